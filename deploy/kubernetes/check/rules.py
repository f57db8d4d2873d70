"""The rendered manifests against the project's own source: every rule reads
what it compares with from sources.Sources, so renaming a setting, a route
or a port in the code, or a name in a manifest, fails here and not in a
cluster."""

import base64
import os
import re
import subprocess
from urllib.parse import urlsplit

import render
from sources import env_name

CHECKED = [0]

# What the probes must ask (the contract; each must also be a GET
# route the API serves).
LIVENESS_PATH = "/health"
READINESS_PATH = "/ready"
MIN_API_REPLICAS = 2
# render.sh: with NGINX_RESOLVER, upstream servers carry `resolve`, which
# nginx has had since 1.27.3.
NGINX_RESOLVE_SINCE = (1, 27, 3)
SCHEME_PORTS = {"http": 80, "https": 443, "postgres": 5432, "postgresql": 5432, "redis": 6379, "rediss": 6379}
CREDENTIALS_IN_URL = re.compile(r"://[^/\s@:]*:[^/\s@]+@")
HUBPULSE_IMAGE = "hubpulse"


def check_all(rendered, sources, manifests, problems):
    for overlay, resources in rendered.items():
        Overlay(overlay, resources, sources, problems).check()
    base = rendered.get("base")
    if base is not None:
        check_readme_secrets(base, sources, manifests, problems)


class Env:
    def __init__(self, source, value):
        self.source = source  # value, field, configmap, secret
        self.value = value  # None when not known here (a Secret not in the render)


class Container:
    def __init__(self, overlay, workload, spec):
        self.workload = workload
        self.spec = spec
        self.name = spec.get("name")
        self.where = f"{workload['kind']}/{workload['metadata']['name']} container {self.name}"
        image_name = render.split_image(spec.get("image", ""))[0]
        self.hubpulse = image_name.rsplit("/", 1)[-1] == HUBPULSE_IMAGE
        command = spec.get("command") or []
        self.binary = os.path.basename(command[0]) if self.hubpulse and command else None
        self.env = overlay.container_env(self)

    def named_port(self, port):
        """The container port a probe or a Service's targetPort names, or None."""
        for p in self.spec.get("ports", []):
            if port == p.get("name") or port == p.get("containerPort"):
                return p["containerPort"]
        return None


class Overlay:
    def __init__(self, name, resources, sources, problems):
        self.name = name
        self.resources = resources
        self.sources = sources
        self.problems = problems
        self.workloads = [r for r in resources if render.pod_spec(r) is not None]
        self.containers = [
            Container(self, w, c) for w in self.workloads for c in render.pod_spec(w).get("containers", [])
        ]

    def ok(self, condition, message):
        CHECKED[0] += 1
        if not condition:
            self.problems.append(f"{self.name}: {message}")
        return condition

    def find(self, kind, name):
        for r in self.resources:
            if r.get("kind") == kind and r.get("metadata", {}).get("name") == name:
                return r
        return None

    def secret_data(self, name):
        secret = self.find("Secret", name)
        if secret is None:
            return None
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        data.update(secret.get("stringData") or {})
        return data

    def container_env(self, container):
        env = {}
        namespace = container.workload["metadata"].get("namespace", "default")
        for source in container.spec.get("envFrom", []):
            if "configMapRef" in source:
                cm = self.find("ConfigMap", source["configMapRef"]["name"])
                if self.ok(cm is not None, f"{container.where}: envFrom ConfigMap {source['configMapRef']['name']} is not in the render"):
                    env.update({k: Env("configmap", v) for k, v in (cm.get("data") or {}).items()})
            if "secretRef" in source:
                data = self.secret_data(source["secretRef"]["name"])
                self.ok(data is not None,
                        f"{container.where}: envFrom secretRef hides which settings it sets; use secretKeyRef")
                env.update({k: Env("secret", v) for k, v in (data or {}).items()})
        for item in container.spec.get("env", []):
            name = item["name"]
            if "value" in item:
                # Kubernetes expands $(NAME) from the variables defined before.
                value = re.sub(
                    r"\$\((\w+)\)",
                    lambda m: env[m.group(1)].value if m.group(1) in env and env[m.group(1)].value is not None else m.group(0),
                    str(item["value"]),
                )
                env[name] = Env("value", value)
                continue
            source = item.get("valueFrom") or {}
            if "fieldRef" in source:
                path = source["fieldRef"]["fieldPath"]
                value = {"metadata.namespace": namespace,
                         "metadata.name": f"{container.workload['metadata']['name']}-pod"}.get(path)
                env[name] = Env("field", value)
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                data = self.secret_data(ref["name"])
                env[name] = Env("secret", None if data is None else data.get(ref["key"]))
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                cm = self.find("ConfigMap", ref["name"]) or {}
                env[name] = Env("configmap", (cm.get("data") or {}).get(ref["key"]))
            else:
                env[name] = Env("other", None)
        return env

    def setting(self, container, key):
        """A setting's value in this container: its variable, else the built-in default."""
        variable = container.env.get(env_name(key))
        if variable is not None:
            return variable.value
        return self.sources.default(container.binary, key)

    def pods_selected(self, selector):
        return [
            w for w in self.workloads
            if selector and all(
                ((w["spec"].get("template") or {}).get("metadata") or {}).get("labels", {}).get(k) == v
                for k, v in selector.items()
            )
        ]

    def service_target(self, service_name, port, what):
        """The containers behind `service_name`:`port`, and the container port it reaches."""
        service = self.find("Service", service_name)
        if not self.ok(service is not None, f"{what}: no Service {service_name} in the render"):
            return [], None
        ports = [p for p in service["spec"].get("ports", []) if p.get("port") == port]
        if not self.ok(ports, f"{what}: Service {service_name} has no port {port}"):
            return [], None
        target = ports[0].get("targetPort", port)
        workloads = self.pods_selected(service["spec"].get("selector") or {})
        containers = [c for c in self.containers if c.workload in workloads]
        reached = {c.named_port(target) for c in containers} - {None}
        return containers, (reached.pop() if len(reached) == 1 else None)

    # --- the rules ---

    def check(self):
        for container in self.containers:
            self.check_resources(container)
            self.check_probe_ports(container)
            if container.hubpulse:
                self.check_hubpulse(container)
            if self.proxy_config(container):
                self.check_nginx(container)
        self.check_services()
        self.check_secrets()
        self.check_config_maps()
        if self.name == "base":
            self.ok(not any(c.binary == "hubpulse-sim" for c in self.containers),
                    "the simulator (hubpulse-sim) is in the base; it belongs in the demo overlay only")
            self.ok(not any(r["kind"] == "Secret" for r in self.resources),
                    "the base holds a Secret; secrets are created per installation (README), never kept in the base")
        api = [c for c in self.containers if c.binary == "hubpulse-api"]
        self.ok(api, "no container runs hubpulse-api")

    def check_resources(self, c):
        resources = c.spec.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        self.ok("cpu" in requests and "memory" in requests, f"{c.where}: no cpu and memory requests")
        self.ok("memory" in limits, f"{c.where}: no memory limit")

    def check_probe_ports(self, c):
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = c.spec.get(kind) or {}
            for action in ("httpGet", "tcpSocket"):
                if action in probe:
                    port = probe[action].get("port")
                    self.ok(c.named_port(port) is not None, f"{c.where}: {kind} port {port} is not a port of the container")

    def check_hubpulse(self, c):
        if not self.ok(c.binary in self.sources.settings,
                       f"{c.where}: runs the HubPulse image without `command` naming one of {sorted(self.sources.settings)}"):
            return
        settings = self.sources.env_names(c.binary)
        for name, variable in c.env.items():
            if name.startswith("HUBPULSE"):
                self.ok(name in settings,
                        f"{c.where}: {name} is not a setting of {c.binary} (no such field in its settings "
                        "structs: renamed or misspelt?)")
        for name in sorted(self.sources.secret_env_names(c.binary)):
            variable = c.env.get(name)
            if self.ok(variable is not None,
                       f"{c.where}: secret setting {name} is not set; its built-in default is for development only"):
                self.ok(variable.source == "secret",
                        f"{c.where}: secret setting {name} comes from a {variable.source}; take it from a Secret (secretKeyRef)")
        for name, variable in c.env.items():
            self.check_url(c, name, variable.value)
        {"hubpulse-api": self.check_api, "hubpulse-sim": self.check_sim, "hubpulse-cron": self.check_cron}[c.binary](c)

    def check_url(self, c, name, value):
        if not isinstance(value, str) or "://" not in value:
            return
        url = urlsplit(value)
        if url.scheme not in SCHEME_PORTS or not url.hostname:
            return
        self.ok(url.hostname not in {"localhost", "127.0.0.1", "::1"},
                f"{c.where}: {name} points at the pod itself ({url.hostname})")
        labels = url.hostname.split(".")
        if len(labels) > 1 and labels[1:3] != [c.workload["metadata"].get("namespace", "default"), "svc"]:
            return  # outside the cluster, or another namespace: not ours to check
        port = url.port or SCHEME_PORTS[url.scheme]
        containers, target = self.service_target(labels[0], port, f"{c.where}: {name}")
        self.ok(not containers or target is not None,
                f"{c.where}: {name}: Service {labels[0]} port {port} reaches no container port")

    def check_api(self, c):
        self.ok(self.setting(c, "server.host") in {"0.0.0.0", "::"},
                f"{c.where}: HUBPULSE__SERVER__HOST is {self.setting(c, 'server.host')}: probes and Services cannot reach it")
        port = int(self.setting(c, "server.port"))
        self.ok(c.named_port(port) is not None, f"{c.where}: listens on {port} (HUBPULSE__SERVER__PORT), not a container port")
        for kind, path in (("livenessProbe", LIVENESS_PATH), ("readinessProbe", READINESS_PATH)):
            http = (c.spec.get(kind) or {}).get("httpGet") or {}
            self.ok(http.get("path") == path, f"{c.where}: {kind} asks {http.get('path')}, not {path}")
            self.ok(http.get("path") in self.sources.api_get_routes,
                    f"{c.where}: {kind} asks {http.get('path')}, which is no GET route of the API")
            self.ok(c.named_port(http.get("port")) == port, f"{c.where}: {kind} port is not the API's port {port}")

        pod = render.pod_spec(c.workload)
        grace = pod.get("terminationGracePeriodSeconds", 30)
        pause = pre_stop_seconds(c.spec)
        drain = int(self.setting(c, "server.shutdown_grace_secs")) + int(self.setting(c, "workers.shutdown_grace_secs"))
        self.ok(grace > pause + drain,
                f"{c.where}: terminationGracePeriodSeconds {grace} is not above the preStop pause ({pause}) plus "
                f"the drain (HUBPULSE__SERVER__SHUTDOWN_GRACE_SECS + HUBPULSE__WORKERS__SHUTDOWN_GRACE_SECS = {drain})")

        resources = c.spec.get("resources") or {}
        ceiling = self.sources.max_rss_mb * 1024 * 1024
        request = memory((resources.get("requests") or {}).get("memory"))
        limit = memory((resources.get("limits") or {}).get("memory"))
        self.ok(request >= ceiling,
                f"{c.where}: memory request below the bench's RSS ceiling ({self.sources.max_rss_mb} MB, loadtest/src/bench.rs)")
        self.ok(limit >= 2 * ceiling, f"{c.where}: memory limit below twice the bench's RSS ceiling")

        workload = c.workload
        labels = workload["spec"]["template"]["metadata"].get("labels", {})
        hpas = [h for h in self.resources if h["kind"] == "HorizontalPodAutoscaler"
                and h["spec"]["scaleTargetRef"].get("kind") == workload["kind"]
                and h["spec"]["scaleTargetRef"].get("name") == workload["metadata"]["name"]]
        replicas = workload["spec"].get("replicas")
        if hpas:
            hpa = hpas[0]["spec"]
            self.ok(hpa.get("minReplicas", 1) >= MIN_API_REPLICAS, f"{c.where}: the HPA may scale below {MIN_API_REPLICAS}")
            self.ok(any((m.get("resource") or {}).get("name") == "cpu" for m in hpa.get("metrics", [])),
                    f"{c.where}: the HPA does not scale on CPU")
            self.ok(replicas is None, f"{c.where}: sets replicas although an HPA owns the count; `kubectl apply` would reset it")
        else:
            self.ok(False, f"{c.where}: no HorizontalPodAutoscaler targets {workload['metadata']['name']}")
        pdbs = [p for p in self.resources if p["kind"] == "PodDisruptionBudget"
                and all(labels.get(k) == v for k, v in p["spec"]["selector"].get("matchLabels", {}).items())]
        self.ok(pdbs, f"{c.where}: no PodDisruptionBudget selects its pods")

    def check_sim(self, c):
        self.ok(self.setting(c, "sim.host") in {"0.0.0.0", "::"}, f"{c.where}: HUBPULSE__SIM__HOST does not listen beyond the pod")
        port = int(self.setting(c, "sim.port"))
        self.ok(c.named_port(port) is not None, f"{c.where}: listens on {port} (HUBPULSE__SIM__PORT), not a container port")
        http = (c.spec.get("readinessProbe") or {}).get("httpGet") or {}
        self.ok(http.get("path") in self.sources.sim_get_routes, f"{c.where}: readinessProbe asks {http.get('path')}, no GET route of the simulator")
        self.ok(c.named_port(http.get("port")) == port, f"{c.where}: readinessProbe port is not the simulator's port {port}")
        # The replicas must reach it by the address its Link headers give.
        public = self.setting(c, "sim.public_url")
        for api in (a for a in self.containers if a.binary == "hubpulse-api"):
            base_url = self.setting(api, "github.base_url")
            if base_url and urlsplit(base_url).hostname and urlsplit(base_url).hostname.split(".")[0] in self.services_of(c):
                self.ok(public == base_url,
                        f"{c.where}: HUBPULSE__SIM__PUBLIC_URL {public} differs from the API's HUBPULSE__GITHUB__BASE_URL {base_url}")

    def check_cron(self, c):
        workload = c.workload
        self.ok(workload["kind"] == "Deployment" and workload["spec"].get("replicas") == 1,
                f"{c.where}: cron must be a Deployment of exactly one replica")
        self.ok((workload["spec"].get("strategy") or {}).get("type") == "Recreate",
                f"{c.where}: cron's Deployment must use strategy Recreate (never two at once)")
        # check_url has found the Service and its port; this is what is behind it.
        service = self.find("Service", (urlsplit(self.setting(c, "cron.base_url")).hostname or "").split(".")[0])
        if service is not None:
            behind = self.pods_selected(service["spec"].get("selector") or {})
            self.ok(any(x.binary == "hubpulse-api" or self.proxy_config(x) for x in self.containers if x.workload in behind),
                    f"{c.where}: HUBPULSE__CRON__BASE_URL reaches neither nginx nor the API")

    def services_of(self, c):
        return {
            s["metadata"]["name"] for s in self.resources
            if s["kind"] == "Service" and c.workload in self.pods_selected(s["spec"].get("selector") or {})
        }

    def proxy_config(self, c):
        """(mount path, ConfigMap) when the container mounts proxy/render.sh."""
        volumes = {v["name"]: v for v in render.pod_spec(c.workload).get("volumes", [])}
        for mount in c.spec.get("volumeMounts", []):
            source = (volumes.get(mount["name"]) or {}).get("configMap")
            cm = self.find("ConfigMap", source["name"]) if source else None
            if cm and "render.sh" in (cm.get("data") or {}):
                return mount["mountPath"], cm
        return None

    def check_nginx(self, c):
        mount, cm = self.proxy_config(c)
        for file in ("nginx.conf", "render.sh"):
            self.ok(cm["data"].get(file) == self.sources.read(f"proxy/{file}"),
                    f"{c.where}: its {file} differs from proxy/{file}; "
                    f"cp proxy/{file} deploy/kubernetes/base/proxy/{file}")
        script = " ".join(c.spec.get("command", []) + c.spec.get("args", []))
        self.ok(f"{mount}/render.sh" in script and f"{mount}/nginx.conf" in script,
                f"{c.where}: does not run {mount}/render.sh on {mount}/nginx.conf")
        env = {k: v.value for k, v in c.env.items() if v.value is not None}
        missing = sorted(self.sources.render_required - set(env))
        if not self.ok(not missing, f"{c.where}: proxy/render.sh requires {', '.join(missing)}"):
            return
        listen = int(env["NGINX_LISTEN"].rsplit(":", 1)[-1])
        self.ok(c.named_port(listen) is not None, f"{c.where}: NGINX_LISTEN {listen} is not a container port")
        namespace = c.workload["metadata"].get("namespace", "default")
        for upstream in env["NGINX_UPSTREAMS"].split():
            host, _, port = upstream.rpartition(":")
            labels = host.split(".")
            what = f"{c.where}: NGINX_UPSTREAMS {upstream}"
            if len(labels) > 1:
                self.ok(labels[1:3] == [namespace, "svc"], f"{what}: not a Service of namespace {namespace}")
            containers, target = self.service_target(labels[0], int(port), what)
            apis = [x for x in containers if x.binary == "hubpulse-api"]
            if self.ok(apis, f"{what}: reaches no API container"):
                self.ok(target == int(self.setting(apis[0], "server.port")), f"{what}: does not reach the API's port")
        if "NGINX_RESOLVER" in script:
            tag = render.split_image(c.spec.get("image", ""))[1]
            version = tuple(int(x) for x in re.findall(r"\d+", tag)[:3])
            self.ok(version >= NGINX_RESOLVE_SINCE,
                    f"{c.where}: NGINX_RESOLVER needs nginx >= {'.'.join(map(str, NGINX_RESOLVE_SINCE))}, image is {c.spec.get('image')}")
        # render.sh itself, with the container's variables: it must accept
        # them and leave no placeholder.
        result = subprocess.run(
            ["sh", os.path.join(self.sources.root, "proxy/render.sh"), os.path.join(self.sources.root, "proxy/nginx.conf")],
            env={**env, "NGINX_RESOLVER": "127.0.0.1", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )
        if self.ok(result.returncode == 0, f"{c.where}: proxy/render.sh refused its variables: {result.stderr.strip()}"):
            code = "\n".join(line for line in result.stdout.splitlines() if not line.lstrip().startswith("#"))
            leftover = sorted(set(re.findall(r"@[A-Z_]+@", code)))
            self.ok(not leftover, f"{c.where}: rendered nginx.conf still has {', '.join(leftover)}")
            for upstream in env["NGINX_UPSTREAMS"].split():
                self.ok(f"server {upstream} max_fails=0 resolve;" in result.stdout,
                        f"{c.where}: rendered nginx.conf has no re-resolved server {upstream}")

    def check_services(self):
        for service in (r for r in self.resources if r["kind"] == "Service"):
            selector = service["spec"].get("selector") or {}
            workloads = self.pods_selected(selector)
            where = f"Service/{service['metadata']['name']}"
            if not self.ok(workloads, f"{where}: selects no pods"):
                continue
            for port in service["spec"].get("ports", []):
                target = port.get("targetPort", port.get("port"))
                for w in workloads:
                    found = [c for c in self.containers if c.workload is w and c.named_port(target) is not None]
                    self.ok(found, f"{where}: targetPort {target} is no port of {w['kind']}/{w['metadata']['name']}")

    def check_secrets(self):
        refs = {}
        for c in self.containers:
            for item in c.spec.get("env", []):
                ref = (item.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.setdefault(ref["name"], set()).add(ref["key"])
        for secret in (r for r in self.resources if r["kind"] == "Secret"):
            name = secret["metadata"]["name"]
            keys = set(self.secret_data(name))
            used = refs.get(name, set())
            for key in sorted(used - keys):
                self.ok(False, f"Secret/{name} has no key {key}, which a container reads")
            for key in sorted(keys - used):
                self.ok(False, f"Secret/{name} key {key} is read by nothing")

    def check_config_maps(self):
        secret_names = set().union(*(self.sources.secret_env_names(b) for b in self.sources.settings))
        for cm in (r for r in self.resources if r["kind"] == "ConfigMap"):
            where = f"ConfigMap/{cm['metadata']['name']}"
            for key, value in (cm.get("data") or {}).items():
                self.ok(key not in secret_names, f"{where}: {key} is a secret; it belongs in a Secret, never a ConfigMap")
                self.ok(not CREDENTIALS_IN_URL.search(value), f"{where}: {key} holds a URL with credentials")
        for c in self.containers:
            for item in c.spec.get("env", []):
                self.ok(not CREDENTIALS_IN_URL.search(str(item.get("value", ""))),
                        f"{c.where}: {item['name']} holds a URL with credentials in the manifest")


def check_readme_secrets(base, sources, manifests, problems):
    """Every Secret key the base reads is in the README's `kubectl create secret`."""
    with open(os.path.join(manifests, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for resource in base:
        for container in render.pod_containers(resource):
            for item in container.get("env", []):
                ref = (item.get("valueFrom") or {}).get("secretKeyRef")
                if not ref:
                    continue
                CHECKED[0] += 1
                if f"secret generic {ref['name']}" not in readme or f"--from-literal={ref['key']}=" not in readme:
                    problems.append(
                        f"base: {resource['kind']}/{resource['metadata']['name']} reads key {ref['key']} of Secret "
                        f"{ref['name']}, which deploy/kubernetes/README.md's `kubectl create secret generic "
                        f"{ref['name']}` does not set"
                    )


def pre_stop_seconds(container):
    pre_stop = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre_stop:
        return int(pre_stop["sleep"]["seconds"])
    command = (pre_stop.get("exec") or {}).get("command") or []
    if len(command) == 2 and os.path.basename(command[0]) == "sleep":
        return int(command[1])
    return 0


def memory(quantity):
    if quantity is None:
        return 0
    match = re.fullmatch(r"([0-9.]+)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(quantity))
    if not match:
        return 0
    units = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    return float(match.group(1)) * units[match.group(2)]
