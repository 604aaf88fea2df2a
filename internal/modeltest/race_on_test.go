//go:build race

package modeltest_test

// raceEnabled: the race detector slows the store evaluation about tenfold.
const raceEnabled = true
