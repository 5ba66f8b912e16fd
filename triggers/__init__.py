"""Trigger sources and decisions: when a container's window becomes a dump.

- kernel: the kernel side's events (nonzero exit, fatal signal, OOM kill) and the
  decisions made when a container ends (its main process, container exit);
- kube: a container restart seen in a pod's status (subscribes to the pod cache);
- manual: a person asked (`traceloop dump`, SIGUSR1);
- command: `traceloop record`'s command ended badly without a kernel trigger.

Each turns its source into `sidecar.model.trigger.Trigger` values. They import
only the model (and triggers.kube the pod states of sidecar.kube.meta), never
each other; the daemon and the command line wire them in.
"""
