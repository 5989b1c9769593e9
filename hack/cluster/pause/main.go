// Command pause is the pod sandbox ("infra") process of the single-node
// cluster that hack/cluster/up.sh starts: it holds the pod's namespaces open,
// reaps zombie children (it is PID 1 of a pod that shares its PID namespace)
// and exits on SIGTERM or SIGINT.
//
// Nothing can be pulled on the machines this runs on, so up.sh builds it
// statically (CGO_ENABLED=0) and packs it with hack/imagetar as the image
// containerd uses as its sandbox image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("pause (timesheets hack/cluster)\n")
		return
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every child that has exited, without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
