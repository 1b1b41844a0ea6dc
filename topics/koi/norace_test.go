//go:build !race

package koi_test

const raceEnabled = false
