package postgres

// SetScanStreams makes the loading scans use n streams on tables of any
// size, until the returned function restores the defaults.
func SetScanStreams(n int64) (restore func()) {
	minBlocks, streams := minBlocksPerStream, scanStreams
	minBlocksPerStream, scanStreams = 1, func() int64 { return n }
	return func() { minBlocksPerStream, scanStreams = minBlocks, streams }
}
