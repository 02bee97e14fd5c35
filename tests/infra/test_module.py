"""infra/terraform is a module others can `source`, and examples/complete the root that uses it.

The example passes every module variable through with the module's own type and default, and
every output back out, so nothing the module offers is out of reach of a deployment.
"""

from __future__ import annotations

from tests.infra.terraform import EXAMPLE_DIR, TF_DIR, Terraform, parse


def test_the_module_has_no_provider_block():
    for path in TF_DIR.glob("*.tf"):
        assert "provider" not in parse(path), f"{path.name} configures a provider"
    [terraform] = parse(TF_DIR / "versions.tf")["terraform"]
    assert terraform["required_providers"][0]["aws"]["source"] == "hashicorp/aws"


def test_the_example_configures_the_provider_and_calls_the_module():
    example = Terraform.load(EXAMPLE_DIR)
    providers = [p for f in example.files.values() for p in f.get("provider", [])]
    assert [next(iter(p)) for p in providers] == ["aws"]
    [call] = [m for f in example.files.values() for m in f.get("module", [])]
    assert call["remediator"]["source"] == "../../modules/remediator"


def test_the_example_passes_every_variable_through_unchanged():
    module, example = Terraform.load(), Terraform.load(EXAMPLE_DIR)
    [call] = [m["remediator"] for f in example.files.values() for m in f.get("module", [])]
    declared = example.variables()
    for name, body in module.variables().items():
        assert call.get(name) == f"${{var.{name}}}", f"{name} is not passed to the module"
        assert declared[name]["type"] == body["type"], name
        assert declared[name].get("default", "required") == body.get("default", "required"), name
    # Only the provider's own (default tags) are the example's.
    assert set(declared) - set(module.variables()) == {"tags"}


def test_the_example_outputs_everything_the_module_does():
    module, example = Terraform.load(), Terraform.load(EXAMPLE_DIR)
    outputs = example.outputs()
    for name, body in module.outputs().items():
        assert outputs[name]["value"] == f"${{module.remediator.{name}}}", name
        assert outputs[name]["description"] == body["description"], name
