// Package archive writes the files of Crossbar's individual archives:
// each recorded stream's forwarded RTP to a WebM file (VP8, VP9, Opus) or
// a Matroska one (H.264), by Writer, into a Storage (Dir by default), with
// a Manifest of the archive's files. Package crossbar drives it; its
// host API (Server.StartArchive) is where archives start and stop.
package archive
