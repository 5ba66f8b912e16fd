"""Connecting to the Kubernetes API the way a pod or kubectl would.

An explicit kubeconfig (`--kubeconfig`) wins; inside a pod
(KUBERNETES_SERVICE_HOST set) the service account is used; otherwise
$KUBECONFIG or ~/.kube/config, as kubectl reads them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from kubernetes import client, config

from sidecar.model.errors import TraceloopError

# The client's functions carry no annotations; typed names for them here.
_load_incluster: Callable[..., None] = config.load_incluster_config
_load_kubeconfig: Callable[..., None] = config.load_kube_config


class KubeConfigError(TraceloopError):
    """No usable Kubernetes API configuration."""


def api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """A `kubernetes.client.ApiClient` of its own (the library's global default is left alone)."""
    cfg = client.Configuration()
    try:
        # kubectl's order: --kubeconfig, $KUBECONFIG, then the pod's service account.
        if (
            kubeconfig is None
            and not os.environ.get("KUBECONFIG")
            and os.environ.get("KUBERNETES_SERVICE_HOST")
        ):
            _load_incluster(client_configuration=cfg)
        else:
            # $KUBECONFIG is read now, not when the library was imported; it
            # may list several files (joined with ":"), which the library merges.
            path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
            _load_kubeconfig(
                config_file=os.path.expanduser(path),
                context=context,
                client_configuration=cfg,
                persist_config=False,
            )
    except (config.ConfigException, OSError) as e:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise KubeConfigError(
            f"cannot configure the Kubernetes client: {e} (in a pod, mount the service "
            f"account token; elsewhere pass --kubeconfig or set KUBECONFIG; tried {where})"
        ) from None
    return client.ApiClient(configuration=cfg)


def core_v1(api: Any) -> Any:
    return client.CoreV1Api(api_client=api)
