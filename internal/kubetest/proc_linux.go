package kubetest

import "syscall"

// sysProcAttr makes the kernel kill a control-plane process when the test
// binary dies without running its cleanups (a panic, a timeout, os.Exit).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
