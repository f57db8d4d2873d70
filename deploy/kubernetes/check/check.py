#!/usr/bin/env python3
"""Checks deploy/kubernetes offline: renders the base and every overlay
(render.py, and `kubectl kustomize` too where kubectl exists, which must
agree), validates every rendered resource against the Kubernetes API's
schemas (kubernetes-validate, strict: an unknown field fails), then checks
the resources against the project's source (sources.py, rules.py): setting
names, secrets, probes, ports, Services, nginx's template, the drain.

    python3 deploy/kubernetes/check/check.py [--manifests DIR] [--source DIR] [--no-kubectl]

Run by services/api/tests/kubernetes.rs with the python of the venv that
scripts/install-kubernetes-validate.sh makes. Exit 0 when every check
holds, 1 with one line per problem when not.
"""

import argparse
import os
import shutil
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import render  # noqa: E402
import rules  # noqa: E402
from sources import SourceError, Sources  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../.."))
OVERLAYS = ("base", "demo")
# The oldest Kubernetes still served by the big clouds' extended support,
# and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30", "1.37")


def kubectl_render(directory):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    result = subprocess.run(
        [kubectl, "kustomize", directory],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def validate(resources, where, problems):
    import kubernetes_validate

    for resource in resources:
        name = f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                path = ".".join(str(p) for p in err.path) or "(top)"
                problems.append(f"{where}: {name}: not valid for Kubernetes {version} at {path}: {err.message}")
            except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.VersionNotSupportedError) as err:
                problems.append(f"{where}: {name}: {err.message}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", default=os.path.join(ROOT, "deploy/kubernetes"),
                        help="the directory holding base/ and the overlays (default: deploy/kubernetes)")
    parser.add_argument("--source", default=ROOT,
                        help="the workspace whose settings, routes and proxy the manifests must agree with "
                             "(default: this one)")
    parser.add_argument("--no-kubectl", action="store_true",
                        help="do not compare with `kubectl kustomize` even where kubectl exists")
    args = parser.parse_args()

    try:
        sources = Sources(args.source)
    except SourceError as err:
        print(f"check-kubernetes: reading the source: {err}", file=sys.stderr)
        return 1

    problems = []
    rendered = {}
    kubectl_compared = []
    for overlay in OVERLAYS:
        directory = os.path.join(args.manifests, overlay)
        try:
            resources = render.build(directory)
        except (render.RenderError, OSError, yaml.YAMLError) as err:
            problems.append(f"{overlay}: cannot render: {err}")
            continue
        rendered[overlay] = resources
        if not args.no_kubectl:
            try:
                theirs = kubectl_render(directory)
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                problems.append(f"{overlay}: {err}")
                theirs = None
            if theirs is not None:
                kubectl_compared.append(overlay)
                mine, other = render.canonical(resources), render.canonical(theirs)
                if mine != other:
                    only_mine = len(set(mine) - set(other))
                    only_theirs = len(set(other) - set(mine))
                    problems.append(
                        f"{overlay}: check/render.py and `kubectl kustomize` disagree "
                        f"({only_mine} resources only in ours, {only_theirs} only in kubectl's)"
                    )
        validate(resources, overlay, problems)

    count_before = len(problems)
    rules.check_all(rendered, sources, args.manifests, problems)
    for problem in problems:
        print(f"FAIL {problem}")

    counts = ", ".join(f"{name} {len(resources)}" for name, resources in rendered.items())
    print(f"rendered: {counts} resources")
    print(f"kubectl kustomize agrees: {', '.join(kubectl_compared) or 'not compared (no kubectl)'}")
    print(f"schemas: Kubernetes {', '.join(KUBERNETES_VERSIONS)}, strict")
    print("settings read: " + ", ".join(f"{b} {len(k)}" for b, k in sources.settings.items()))
    print(f"rules: {rules.CHECKED[0]} checks, {len(problems) - count_before} failed")
    print(f"result: {'FAIL' if problems else 'ok'} ({len(problems)} problems)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
