#!/usr/bin/env python3
"""The Helm v4 engine for netpol's tests and e2e suite, through helm-python-sdk (no helm binary).

Usage: helm.py COMMAND [options], values as JSON with --values-json. Prints one JSON object on
stdout: {"ok": true, ...} or {"ok": false, "error_type": ..., "error": ...} (exit status 1).

  render     --chart DIR --name N --namespace NS   -> {"manifests": {template path: text}}
  lint       --chart DIR --namespace NS            -> {"report": helm lint report}
  install    --chart DIR --name N --namespace NS [--kubeconfig F] [--timeout S] [--no-wait]
  upgrade    --chart DIR --name N --namespace NS [--kubeconfig F] [--timeout S] [--no-wait]
  uninstall  --name N --namespace NS [--kubeconfig F] [--timeout S] [--no-wait]
  status     --name N --namespace NS [--kubeconfig F]   -> {"release": ...}

--no-wait returns once the objects are written (a control plane without nodes runs no pods).
"""

import argparse
import json
import sys

try:
    import helm_python as helm
except ImportError as error:  # the Rust side installs helm-python-sdk when this happens
    print(json.dumps({"ok": False, "error_type": "ImportError", "error": str(error)}))
    sys.exit(3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["render", "lint", "install", "upgrade", "uninstall", "status", "version"])
    parser.add_argument("--chart")
    parser.add_argument("--name", default="netpol")
    parser.add_argument("--namespace", default="netpol-system")
    parser.add_argument("--values-json", default="{}")
    parser.add_argument("--kubeconfig")
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args()
    values = json.loads(args.values_json)
    wait = None if args.no_wait else "watcher"

    try:
        if args.command == "version":
            result = {"sdk": helm.helm_sdk_version(), "library": helm.helm_c_version()}
        elif args.command == "render":
            with helm.Chart.load(args.chart) as chart:
                manifests = chart.render(
                    values, name=args.name, namespace=args.namespace, is_install=True
                )
            result = {"manifests": manifests}
        elif args.command == "lint":
            report = helm.lint(args.chart, values, strict=True, namespace=args.namespace)
            result = {"report": report}
        elif args.command == "install":
            with helm.Config(kubeconfig_path=args.kubeconfig, namespace=args.namespace) as config:
                release = config.install(
                    args.chart,
                    args.name,
                    values,
                    namespace=args.namespace,
                    create_namespace=True,
                    wait=wait,
                    timeout=args.timeout,
                )
            result = {"release": release}
        elif args.command == "upgrade":
            with helm.Config(kubeconfig_path=args.kubeconfig, namespace=args.namespace) as config:
                release = config.upgrade(
                    args.chart,
                    args.name,
                    values,
                    namespace=args.namespace,
                    wait=wait,
                    timeout=args.timeout,
                )
            result = {"release": release}
        elif args.command == "status":
            with helm.Config(kubeconfig_path=args.kubeconfig, namespace=args.namespace) as config:
                result = {"release": config.status(args.name)}
        else:
            with helm.Config(kubeconfig_path=args.kubeconfig, namespace=args.namespace) as config:
                config.uninstall(
                    args.name, ignore_not_found=True, wait=wait, timeout=args.timeout
                )
            result = {}
    except helm.HelmError as error:
        print(json.dumps({"ok": False, "error_type": type(error).__name__, "error": str(error)}))
        return 1
    print(json.dumps({"ok": True, **result}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
