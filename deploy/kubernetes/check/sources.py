"""What the manifests must agree with, read from the project's own source:
each binary's settings (the serde structs it deserializes, checked against
its defaults.toml), which of them are secrets, the routes each HTTP binary
serves, the variables proxy/render.sh requires, and the bench's RSS ceiling.
"""

import glob
import os
import re
import tomllib

# Each binary: the file and struct its settings deserialize into, and its
# built-in defaults.
BINARIES = {
    "hubpulse-api": ("services/api/src/settings.rs", "Settings", "services/api/src/defaults.toml"),
    "hubpulse-cron": ("cron/src/settings.rs", "Settings", "cron/defaults.toml"),
    "hubpulse-sim": ("services/sim/src/settings.rs", "BinSettings", "services/sim/src/defaults.toml"),
}
ENV_PREFIX = "HUBPULSE__"
SECRET_TYPES = {"SecretString", "SecretBox", "Secret"}

STRUCT = re.compile(
    r"((?:^[ \t]*#\[[^\n]*\]\s*\n)*)^[ \t]*pub struct (\w+)\s*\{(.*?)^\}", re.M | re.S
)
FIELD = re.compile(r"^\s*pub\s+(?:r#)?(\w+)\s*:\s*(.+?),?\s*$")
ATTRIBUTE = re.compile(r"^\s*#\[(.*)\]\s*$")


class SourceError(Exception):
    pass


def env_name(key):
    """server.shutdown_grace_secs -> HUBPULSE__SERVER__SHUTDOWN_GRACE_SECS"""
    return ENV_PREFIX + "__".join(part.upper() for part in key.split("."))


class Sources:
    def __init__(self, root):
        self.root = root
        self.structs = self._structs()
        # binary -> {dotted key: type}
        self.settings = {}
        self.defaults = {}
        for binary, (path, root_struct, defaults) in BINARIES.items():
            keys = {}
            self._walk(path, root_struct, "", keys, [])
            self.settings[binary] = keys
            with open(os.path.join(root, defaults), "rb") as f:
                self.defaults[binary] = _flatten(tomllib.load(f))
            # The struct reading is only worth something if it finds what
            # the defaults set: a key there and not here means it is out of date.
            missing = sorted(set(self.defaults[binary]) - set(keys))
            if missing:
                raise SourceError(
                    f"{defaults} sets {', '.join(missing)}, which check/sources.py did not find in "
                    f"{path} {root_struct}; teach it the new struct shape"
                )
        self.api_get_routes = self._utoipa_get_routes("services/api/src")
        self.sim_get_routes = self._axum_get_routes("services/sim/src")
        self.render_required = self._render_required()
        self.max_rss_mb = self._max_rss_mb()

    def env_names(self, binary):
        return {env_name(key): key for key in self.settings[binary]}

    def secret_env_names(self, binary):
        return {
            env_name(key)
            for key, ty in self.settings[binary].items()
            if _last_segment(ty) in SECRET_TYPES
        }

    def default(self, binary, key):
        return self.defaults[binary].get(key)

    def read(self, path):
        with open(os.path.join(self.root, path), encoding="utf-8") as f:
            return f.read()

    # --- settings structs ---

    def _structs(self):
        """name -> [(file, struct attributes, [(field, type, attributes)])]"""
        structs = {}
        files = glob.glob(os.path.join(self.root, "services/*/src/**/*.rs"), recursive=True)
        files += glob.glob(os.path.join(self.root, "cron/src/**/*.rs"), recursive=True)
        for path in sorted(files):
            rel = os.path.relpath(path, self.root)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for match in STRUCT.finditer(text):
                attrs, name, body = match.groups()
                if "Deserialize" not in attrs:
                    continue
                fields, pending = [], []
                for line in body.splitlines():
                    attr = ATTRIBUTE.match(line)
                    if attr:
                        pending.append(attr.group(1))
                        continue
                    field = FIELD.match(line)
                    if field:
                        fields.append((field.group(1), field.group(2).strip(), pending))
                        pending = []
                    elif line.strip() and not line.strip().startswith("//"):
                        pending = []
                structs.setdefault(name, []).append((rel, attrs, fields))
        return structs

    def _find(self, from_file, name):
        found = self.structs.get(name, [])
        same = [s for s in found if s[0] == from_file]
        if same:
            return same[0]
        if len(found) == 1:
            return found[0]
        if found:
            raise SourceError(f"{from_file}: {name} is defined in several files; cannot tell which")
        return None

    def _walk(self, from_file, name, prefix, keys, seen):
        struct = self._find(from_file, name)
        if struct is None:
            raise SourceError(f"{from_file}: settings struct {name} not found")
        file, attrs, fields = struct
        if re.search(r"serde\([^)]*\b(rename_all|tag|untagged|transparent)\b", attrs):
            raise SourceError(f"{file}: {name} uses a serde attribute check/sources.py does not read")
        for field, ty, field_attrs in fields:
            serde = " ".join(a for a in field_attrs if a.startswith("serde"))
            if re.search(r"\b(alias|rename_all)\b", serde):
                raise SourceError(f"{file}: {name}.{field} uses a serde attribute check/sources.py does not read")
            if re.search(r"\bskip(_deserializing)?\b", serde):
                continue
            renamed = re.search(r'\brename\s*=\s*"([^"]+)"', serde)
            key = renamed.group(1) if renamed else field
            inner = _unwrap_option(ty)
            nested = self._find(file, _last_segment(inner)) if _is_plain_path(inner) else None
            if nested is not None and not re.search(r"serde\([^)]*\b(try_from|from|transparent)\b", nested[1]):
                if (nested[0], _last_segment(inner)) in seen:
                    raise SourceError(f"{file}: {name}.{field} is recursive")
                path = prefix if "flatten" in serde else f"{prefix}{key}."
                self._walk(file, _last_segment(inner), path, keys, seen + [(nested[0], _last_segment(inner))])
            else:
                keys[f"{prefix}{key}"] = inner

    # --- routes, render.sh, bench ---

    def _utoipa_get_routes(self, directory):
        routes = set()
        for path in glob.glob(os.path.join(self.root, directory, "**/*.rs"), recursive=True):
            with open(path, encoding="utf-8") as f:
                for match in re.finditer(r'#\[utoipa::path\(\s*get\s*,\s*path\s*=\s*"([^"]+)"', f.read()):
                    routes.add(match.group(1))
        if not routes:
            raise SourceError(f"{directory}: no #[utoipa::path(get, path = ...)] found")
        return routes

    def _axum_get_routes(self, directory):
        routes = set()
        for path in glob.glob(os.path.join(self.root, directory, "**/*.rs"), recursive=True):
            with open(path, encoding="utf-8") as f:
                # Plain axum (`.route("/p", get(h))`) and the simulator's
                # declared routes (`.route("/p", Resource::Core, get(h))`).
                pattern = r'\.route\(\s*"([^"]+)"\s*,\s*(?:Resource::\w+\s*,\s*)?get\('
                for match in re.finditer(pattern, f.read()):
                    routes.add(match.group(1))
        if not routes:
            raise SourceError(f"{directory}: no .route(\"...\", get(...)) found")
        return routes

    def _render_required(self):
        required = re.findall(r'\$\{(\w+):\?', self.read("proxy/render.sh"))
        if not required:
            raise SourceError("proxy/render.sh: no required ${NAME:?...} variables found")
        return set(required)

    def _max_rss_mb(self):
        match = re.search(r"MAX_RSS_MB\s*:\s*f64\s*=\s*([0-9.]+)", self.read("loadtest/src/bench.rs"))
        if not match:
            raise SourceError("loadtest/src/bench.rs: MAX_RSS_MB not found")
        return float(match.group(1))


def _flatten(table, prefix=""):
    keys = {}
    for key, value in table.items():
        if isinstance(value, dict):
            keys.update(_flatten(value, f"{prefix}{key}."))
        else:
            keys[f"{prefix}{key}"] = value
    return keys


def _unwrap_option(ty):
    match = re.fullmatch(r"(?:std::option::)?Option<(.+)>", ty.strip())
    return match.group(1).strip() if match else ty.strip()


def _is_plain_path(ty):
    return re.fullmatch(r"[\w:]+", ty) is not None


def _last_segment(ty):
    base = re.sub(r"<.*", "", ty.strip())
    return base.split("::")[-1]
