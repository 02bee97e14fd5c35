"""The hashicorp/aws provider's schema, and a check of infra/terraform against it.

HashiCorp published the provider's full schema inside its CDK for Terraform bindings
(`cdktf-cdktf-provider-aws` on PyPI): a jsii assembly that lists every resource and data
source, each argument and nested block, and, in each property's docs, the registry link that
carries its Terraform name and the provider version. `make test` installs that package
(pinned, without dependencies; none of its code runs) into a virtualenv of its own; the
first use here distils the 130 MB assembly into a small digest cached beside it.

`check()` reads every `provider`, `resource` and `data` block with python-hcl2 and reports
each argument or block the provider does not have, each block written as an argument (or
the reverse), each repeated single block, and each missing required argument or block.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

from tests.infra.terraform import ROOT, TF_DIR

SCHEMA_VENV = Path(os.environ.get("TF_SCHEMA_VENV", ROOT / ".venv-tfschema"))
DIGEST_NAME = "provider-schema-digest.json"
_DIGEST_FORMAT = 1
_PACKAGE = "@cdktf/provider-aws"
_PROVIDER_CONFIG = f"{_PACKAGE}.provider.AwsProviderConfig"

# `{@link https://registry.terraform.io/providers/hashicorp/aws/6.25.0/docs/resources/sqs_queue
# aws_sqs_queue}` (one line in the assembly)
_CLASS_LINK = re.compile(
    r"hashicorp/aws/(?P<version>[0-9.]+)/docs/(?P<kind>resources|data-sources)/\w+ "
    r"(?P<type>aws_\w+)\}"
)
_PROVIDER_LINK = re.compile(r"hashicorp/aws/(?P<version>[0-9.]+)/docs aws\}")
# `... SqsQueue#visibility_timeout_seconds}`: the Terraform name after the class name.
_PROPERTY_LINK = re.compile(r"[A-Za-z0-9]+#(?P<name>[A-Za-z0-9_]+)\}")

# Meta-arguments Terraform itself accepts in every resource / data block.
RESOURCE_META = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner",
                 "connection"}  # fmt: skip
DATA_META = {"count", "for_each", "depends_on", "provider", "lifecycle"}
PROVIDER_META = {"alias"}
_DYNAMIC_KEYS = {"for_each", "iterator", "labels", "content"}

_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=True, with_comments=False)


class SchemaMissing(RuntimeError):
    """The schema virtualenv is not installed (`make tf-schema` installs it)."""


# -- the digest ---------------------------------------------------------------------------------


def assembly_path(venv: Path = SCHEMA_VENV) -> Path:
    found = sorted(
        venv.glob("lib/python3*/site-packages/cdktf_cdktf_provider_aws/_jsii/*.jsii.tgz")
    )
    if not found:
        raise SchemaMissing(
            f"no cdktf-cdktf-provider-aws assembly under {venv}: run `make tf-schema` "
            "(part of `make test`)"
        )
    return found[-1]


def _struct_refs(type_: Any, types: dict[str, Any]) -> tuple[str | None, bool]:
    """(struct fqn, single) when the property holds a nested struct of the provider."""
    text = json.dumps(type_)
    refs = [
        fqn
        for fqn in re.findall(r'"fqn": "([^"]+)"', text)
        if fqn.startswith(_PACKAGE + ".") and types.get(fqn, {}).get("datatype")
    ]
    if not refs:
        return None, False
    single = isinstance(type_, dict) and type_.get("fqn") == refs[0]
    return refs[0], single


def _block(fqn: str, types: dict[str, Any]) -> dict[str, Any]:
    arguments: dict[str, bool] = {}
    blocks: dict[str, dict[str, Any]] = {}
    objects: dict[str, str] = {}
    for prop in types[fqn].get("properties", []):
        docs = prop.get("docs", {})
        link = _PROPERTY_LINK.search(f"{docs.get('summary', '')} {docs.get('remarks', '')}")
        name = link.group("name") if link else re.sub(r"(?<!^)(?=[A-Z])", "_", prop["name"]).lower()
        required = not prop.get("optional", False)
        nested, single = _struct_refs(prop["type"], types)
        if nested is None:
            arguments[name] = required
        elif str(docs.get("summary", "")).endswith(" block."):
            blocks[name] = {"struct": nested, "required": required, "single": single}
        else:
            objects[name] = nested  # an object-typed argument: `name = { ... }`
            arguments[name] = required
    return {"arguments": arguments, "blocks": blocks, "objects": objects}


def build_digest(assembly: Path) -> dict[str, Any]:
    with tarfile.open(assembly) as archive:
        member = archive.extractfile("package/.jsii")
        assert member is not None, f"{assembly}: no package/.jsii"
        jsii = json.load(member)
    types: dict[str, Any] = jsii["types"]
    digest: dict[str, Any] = {
        "format": _DIGEST_FORMAT,
        "package_version": jsii["version"],
        "provider_version": None,
        "provider": _PROVIDER_CONFIG,
        "resource": {},
        "data": {},
        "structs": {},
    }
    provider_link = _PROVIDER_LINK.search(
        json.dumps(types[f"{_PACKAGE}.provider.AwsProvider"]["docs"])
    )
    assert provider_link, "the assembly's provider class has no registry link"
    digest["provider_version"] = provider_link.group("version")
    for fqn, type_ in types.items():
        if type_.get("kind") != "class":
            continue
        docs = type_.get("docs", {})
        link = _CLASS_LINK.search(f"{docs.get('summary', '')} {docs.get('remarks', '')}")
        if not link or f"{fqn}Config" not in types:
            continue
        kind = "resource" if link.group("kind") == "resources" else "data"
        digest[kind][link.group("type")] = f"{fqn}Config"
    todo = [_PROVIDER_CONFIG, *digest["resource"].values(), *digest["data"].values()]
    while todo:
        fqn = todo.pop()
        if fqn in digest["structs"]:
            continue
        block = _block(fqn, types)
        digest["structs"][fqn] = block
        todo += [b["struct"] for b in block["blocks"].values()]
        todo += list(block["objects"].values())
    return digest


@functools.cache
def load_digest(venv: Path = SCHEMA_VENV) -> dict[str, Any]:
    """The digest of the installed assembly, built on first use and cached beside it."""
    assembly = assembly_path(venv)
    cache = venv / DIGEST_NAME
    if cache.exists():
        cached: dict[str, Any] = json.loads(cache.read_text())
        if cached.get("format") == _DIGEST_FORMAT and cached.get("assembly") == assembly.name:
            return cached
    digest = build_digest(assembly)
    digest["assembly"] = assembly.name
    # Written whole, then renamed: parallel test workers never read half a file.
    partial = cache.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(digest, separators=(",", ":"), sort_keys=True))
    partial.replace(cache)
    return digest


# -- the check ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    file: str
    block: str  # `resource aws_sqs_queue.signals`
    path: str  # `global_secondary_index.projection_typ`
    message: str

    def __str__(self) -> str:
        path = f" {self.path}:" if self.path else ""
        return f"{self.file}: {self.block}:{path} {self.message}"


def _is_block(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
    )


class _Checker:
    def __init__(self, digest: dict[str, Any], file: str, block: str) -> None:
        self.digest = digest
        self.version = digest["provider_version"]
        self.file = file
        self.block = block
        self.problems: list[Problem] = []

    def report(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.block, path, message))

    def body(self, body: dict[str, Any], fqn: str, prefix: str, meta: set[str]) -> None:
        schema = self.digest["structs"][fqn]
        arguments: dict[str, bool] = schema["arguments"]
        blocks: dict[str, dict[str, Any]] = schema["blocks"]
        present: set[str] = set()
        for key, value in body.items():
            if key == "__is_block__" or key in meta:
                continue
            where = f"{prefix}{key}"
            if key == "dynamic":
                for entry in value:
                    for label, spec in entry.items():
                        if label != "__is_block__":
                            self.dynamic(label, spec, blocks, prefix)
                            present.add(label)
                continue
            present.add(key)
            if _is_block(value):
                if key in blocks:
                    nested = blocks[key]
                    if nested["single"] and len(value) > 1:
                        self.report(
                            where, f"block given {len(value)} times; the provider allows one"
                        )
                    for item in value:
                        self.body(item, nested["struct"], f"{where}.", set())
                elif key in schema["objects"]:
                    # An object-typed argument; block syntax is accepted for the SDK's
                    # "attributes as blocks" (security group rules), so check the content.
                    for item in value:
                        self.body(item, schema["objects"][key], f"{where}.", set())
                elif key in arguments:
                    self.report(where, f"is an argument, written as a block: write `{key} = ...`")
                else:
                    self.report(where, f"no such block in hashicorp/aws {self.version}")
            elif key in blocks:
                self.report(where, f"is a block, written as an argument: write `{key} {{ ... }}`")
            elif key not in arguments:
                self.report(where, f"no such argument in hashicorp/aws {self.version}")
        for name, required in arguments.items():
            if required and name not in present:
                self.report(f"{prefix}{name}", "required argument missing")
        for name, nested in blocks.items():
            if nested["required"] and name not in present:
                self.report(f"{prefix}{name}", "required block missing")

    def dynamic(
        self, label: str, spec: dict[str, Any], blocks: dict[str, dict[str, Any]], prefix: str
    ) -> None:
        where = f"{prefix}dynamic.{label}"
        unknown = set(spec) - _DYNAMIC_KEYS - {"__is_block__"}
        if unknown:
            self.report(where, f"dynamic blocks take no {', '.join(sorted(unknown))}")
        if label not in blocks:
            self.report(where, f"no such block in hashicorp/aws {self.version}")
            return
        for content in spec.get("content", []):
            self.body(content, blocks[label]["struct"], f"{prefix}{label}.", set())


def check(directory: Path = TF_DIR, digest: dict[str, Any] | None = None) -> list[Problem]:
    """Every disagreement between the .tf files of `directory` and the provider's schema."""
    digest = digest or load_digest()
    problems: list[Problem] = []
    for path in sorted(directory.glob("*.tf")):
        parsed = hcl2.loads(path.read_text(), serialization_options=_OPTIONS)
        for entry in parsed.get("provider", []):
            for name, body in entry.items():
                if name != "aws":
                    continue
                checker = _Checker(digest, path.name, "provider aws")
                checker.body(body, digest["provider"], "", PROVIDER_META)
                problems += checker.problems
        for kind, meta in (("resource", RESOURCE_META), ("data", DATA_META)):
            for entry in parsed.get(kind, []):
                for type_, named in entry.items():
                    if type_ == "__is_block__":
                        continue
                    for name, body in named.items():
                        if name == "__is_block__":
                            continue
                        checker = _Checker(digest, path.name, f"{kind} {type_}.{name}")
                        if not type_.startswith("aws_"):
                            continue  # another provider's (terraform_data and the like)
                        if type_ not in digest[kind]:
                            checker.report(
                                "",
                                f"no such {kind} type in hashicorp/aws {checker.version}",
                            )
                        else:
                            checker.body(body, digest[kind][type_], "", meta)
                        problems += checker.problems
    return problems
