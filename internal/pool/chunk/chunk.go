// Package chunk frames a taken-over stream's bytes as HTTP/1.1 chunks in
// place, since the pool writes the chunked body net/http started.
package chunk

import "strconv"

// Head is the room a caller leaves before a batch for its chunk-size line.
const Head = 18

// Last is the last chunk of a chunked body.
const Last = "0\r\n\r\n"

// Frame turns buf[Head:] into one chunk in place and returns it, or nothing
// when the batch is empty.
func Frame(buf []byte) []byte {
	size := len(buf) - Head
	if size == 0 {
		return buf[:0]
	}
	var head [Head]byte
	h := strconv.AppendInt(head[:0], int64(size), 16)
	h = append(h, '\r', '\n')
	start := Head - len(h)
	copy(buf[start:], h)
	return append(buf[start:], '\r', '\n')
}
