// Package live composes streams into one live picture and sound, and
// streams it to RTMP servers and as an HLS playlist, with ffmpeg: the
// engine of Crossbar's broadcasts (Server.StartBroadcast drives it).
//
// # Design
//
// A live composition must go on when a stream stalls (its publisher's
// link drops, its video is muted) and when streams come and go or the
// layout changes, without a gap in what the RTMP servers and HLS players
// get. One ffmpeg that overlays its inputs cannot: its overlay and xstack
// filters wait for a frame of every input (one stalled stream freezes the
// picture), and a running ffmpeg cannot add or drop an input, so each
// change would restart it and cut every output. So the work is split:
//
//   - each stream is decoded by an ffmpeg of its own (Input): its
//     forwarded RTP goes in as a live WebM or Matroska stream on stdin,
//     written by archive.Writer as for an archive; its pictures come out
//     raw (yuv420p, at the size the stream announced, at most the
//     picture's) on stdout, and its sound as 48 kHz stereo PCM on a second
//     pipe;
//   - the Composer keeps each stream's last picture and a short buffer of
//     its sound and, at a fixed frame rate on its own clock, draws the
//     pictures where archive.Arrange puts them in OpenTok's layouts, each
//     scaled to fit its tile in its own shape (black around it, and where
//     there is no stream; a stalled stream shows its last picture), and
//     mixes 20 ms of sound (silence for a stalled stream);
//   - one encoding ffmpeg takes those raw pictures and sound on two
//     pipes and encodes H.264 (libx264, zerolatency) and AAC into an
//     MPEG-TS stream, which the Composer copies to one ffmpeg per output
//     (-c copy): FLV to each RTMP server, HLS segments to a directory.
//     Each output lives and fails on its own: its status says whether it
//     is connecting, live or in error, with ffmpeg's reason.
//
// Timestamps are the Composer's frame and sample counts, so sound and
// picture stay in step whatever the inputs do. The encoder never
// restarts while the broadcast lasts: stream and layout changes are a
// change of what the Composer draws at the next frame.
//
// The cost is the raw pictures that cross pipes: a 640x480 stream is
// 460 kB a frame, 14 MB/s at 30 fps; a 1280x720 picture 1.4 MB a frame,
// 41 MB/s; pipes and copies move several GB/s on one core, so it is a few
// percent of a core, below what decoding and encoding cost anyway.
//
// Pictures are scaled to their tiles in Go, at each frame, without
// allocating: averaged over the source pixels under each drawn one (a box
// filter; 2x2 when halved, the common case) when shrunk, so fine detail
// does not alias, and interpolated bilinearly when enlarged, so it is not
// blocky. That costs at most 2.5 ms of one core for a 640x360 tile on the
// loaded test machine (BenchmarkBlit), less than a decoder.
//
// What it does not do yet: a stream whose size changes is decoded at the
// size it announced; low-latency HLS is shorter segments and keyframe
// intervals, not LL-HLS partial segments, which ffmpeg's HLS muxer does
// not write.
package live
