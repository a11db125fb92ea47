package loadgen

import "syscall"

// raiseFileLimit lifts the soft descriptor limit to the hard one and
// returns it.
func raiseFileLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	lim.Cur = lim.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	return int(lim.Cur)
}
