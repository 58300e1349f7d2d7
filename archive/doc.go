// Package archive writes the files of Crossbar's archives: each recorded
// stream's forwarded RTP to a WebM file (VP8, VP9, Opus) or a Matroska one
// (H.264), by Writer, into a Storage (Dir by default), with a Manifest of
// an individual archive's files; and, for a composed archive, those files
// drawn into one MP4 by ffmpeg (Compose), each stream where Arrange puts
// it in OpenTok's layouts. Package crossbar drives it; its host API
// (Server.StartArchive) is where archives start and stop.
package archive
