//go:build race

package authz_test

// raceEnabled: the race detector slows the store evaluation about tenfold.
const raceEnabled = true
