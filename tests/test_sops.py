"""gitopsgen.generate.sops against files the real sops wrote (../shared/sops-vectors) and against its own output."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml
from conftest import shared
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gitopsgen.errors import InputError
from gitopsgen.generate import agekeys, sops, sopsyaml

FLUX = ("sops-vectors", "fluxcd-kustomize-controller")
GETSOPS = ("sops-vectors", "getsops-sops-pr1031")
ENC = re.compile(r"^ENC\[AES256_GCM,data:(.*),iv:(.+),tag:(.+),type:(.+)\]$")


def vector(*parts: str) -> Path:
    return shared(*parts)


def load_one(path: Path) -> dict[str, Any]:
    if path.suffix == ".json":
        return json.loads(path.read_text())
    [doc] = sopsyaml.load(path.read_text())
    return doc


def keys(*parts: str) -> list[str]:
    return agekeys.load_identities([vector(*parts)])


def new_identity() -> tuple[str, str]:
    ident = pyrage.x25519.Identity.generate()
    return str(ident), str(ident.to_public())


def pull_secret(namespace: str = "prefect") -> dict[str, Any]:
    config = {"auths": {"harbor.example.com": {"username": "robot$puller", "password": "s3cr3t-Pa55word"}}}
    encoded = base64.b64encode(json.dumps(config).encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "registry-credentials", "namespace": namespace, "labels": {"managed": "yes"}},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": encoded},
    }


def leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in leaves(v, (*path, str(k)))]
    if isinstance(value, list):
        return [leaf for v in value for leaf in leaves(v, path)]
    return [] if value is None else [(path, value)]


# --------------------------------------------------------------------------- real sops files

VECTORS = [
    pytest.param(FLUX, "algorithms-age.yaml", ["keys-age.txt"], None, id="flux-algorithms-age"),
    pytest.param(FLUX, "global-secret.yaml", ["keys-age-global.txt"], None, id="flux-global-secret"),
    pytest.param(GETSOPS, "example.yaml", ["keys.txt"], None, id="example.yaml-first-key"),
    pytest.param(GETSOPS, "example.yaml", ["keys-main-7ebee3dc7.txt"], 1, id="example.yaml-second-key-alone"),
    pytest.param(GETSOPS, "example.json", ["keys.txt"], None, id="example.json-first-key"),
    pytest.param(GETSOPS, "example.json", ["keys-main-7ebee3dc7.txt"], 1, id="example.json-second-key-alone"),
    pytest.param(GETSOPS, "example.json", ["keys-main-7ebee3dc7.txt"], None, id="example.json-both-keys"),
]


@pytest.mark.parametrize(("where", "name", "key_files", "only"), VECTORS)
def test_real_sops_files_decrypt_to_their_plaintext(
    where: tuple[str, str], name: str, key_files: list[str], only: int | None
) -> None:
    encrypted = load_one(vector(*where, name))
    identities = agekeys.load_identities([vector(*where, k) for k in key_files])
    if only is not None:
        identities = [identities[only]]
    plain_path = vector(*where, name.replace(".yaml", ".decrypted.yaml").replace(".json", ".decrypted.json"))
    assert sops.is_encrypted(encrypted)
    assert sops.decrypt(encrypted, identities) == load_one(plain_path)  # the MAC is checked inside


def test_example_yaml_types_and_clear_text_leaves() -> None:
    plain = sops.decrypt(load_one(vector(*GETSOPS, "example.yaml")), keys(*GETSOPS, "keys.txt"))
    assert plain["number"] == 1234568000.0 and isinstance(plain["number"], float)
    assert plain["somebooleans"] == [True, False]
    assert plain["app2"]["key"].startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert plain["nested_unencrypted"] == {"this": {"is": {"all": "going to remain in clear text"}}}


def test_key_file_without_trailing_newline_gives_both_identities() -> None:
    path = vector(*GETSOPS, "keys-main-7ebee3dc7.txt")
    assert not path.read_text().endswith("\n")
    found = agekeys.parse_identities(path.read_text())
    assert len(found) == 2 and all(i.startswith("AGE-SECRET-KEY-1") for i in found)
    publics = [str(pyrage.x25519.Identity.from_str(i).to_public()) for i in found]
    assert publics == sops.recipients(load_one(vector(*GETSOPS, "example.yaml")))


@pytest.mark.parametrize("name", ["algorithms-age.yaml", "global-secret.yaml"])
def test_yaml_of_a_real_file_is_written_back_byte_for_byte(name: str) -> None:
    text = vector(*FLUX, name).read_text()
    assert sopsyaml.dump(sopsyaml.load(text)[0]) == text


def test_tampered_clear_text_value_is_a_mac_mismatch() -> None:
    doc = load_one(vector(*FLUX, "algorithms-age.yaml"))
    identities = keys(*FLUX, "keys-age.txt")
    sops.decrypt(doc, identities)
    doc["metadata"]["name"] = "other"
    with pytest.raises(sops.SopsError, match="MAC mismatch"):
        sops.decrypt(doc, identities)


def test_tampered_unencrypted_suffix_leaf_and_removed_key_are_mac_mismatches() -> None:
    identities = keys(*GETSOPS, "keys.txt")
    doc = load_one(vector(*GETSOPS, "example.yaml"))
    doc["somelist_unencrypted"][0] = "changed"
    with pytest.raises(sops.SopsError, match="MAC mismatch"):
        sops.decrypt(doc, identities)
    doc = load_one(vector(*FLUX, "global-secret.yaml"))
    del doc["type"]
    with pytest.raises(sops.SopsError, match="MAC mismatch"):
        sops.decrypt(doc, keys(*FLUX, "keys-age-global.txt"))


def test_changed_lastmodified_is_an_error() -> None:
    doc = load_one(vector(*FLUX, "algorithms-age.yaml"))
    doc["sops"]["lastmodified"] = "2024-11-12T13:33:43Z"
    with pytest.raises(sops.SopsError, match="MAC"):
        sops.decrypt(doc, keys(*FLUX, "keys-age.txt"))


def test_wrong_key_is_an_error_naming_the_recipients() -> None:
    doc = load_one(vector(*FLUX, "algorithms-age.yaml"))
    with pytest.raises(sops.SopsError, match="age1l44xcng8") as err:
        sops.decrypt(doc, keys(*FLUX, "keys-age-global.txt"))
    assert "\n" not in str(err.value)
    with pytest.raises(sops.SopsError, match="no age identity"):
        sops.decrypt(doc, [])


def test_changed_ciphertext_or_moved_value_is_an_error() -> None:
    identities = keys(*FLUX, "keys-age.txt")
    doc = load_one(vector(*FLUX, "algorithms-age.yaml"))
    data, iv, tag, kind = ENC.match(doc["stringData"]["key"]).groups()
    raw = bytearray(base64.b64decode(data))
    raw[0] ^= 1
    doc["stringData"]["key"] = f"ENC[AES256_GCM,data:{base64.b64encode(raw).decode()},iv:{iv},tag:{tag},type:{kind}]"
    with pytest.raises(sops.SopsError, match="cannot decrypt value at 'stringData:key:'"):
        sops.decrypt(doc, identities)
    moved = load_one(vector(*FLUX, "algorithms-age.yaml"))
    moved["stringData"] = {"other": moved["stringData"]["key"]}  # same ciphertext, other path (AAD)
    with pytest.raises(sops.SopsError, match="cannot decrypt"):
        sops.decrypt(moved, identities)
    clear = load_one(vector(*FLUX, "algorithms-age.yaml"))
    clear["stringData"]["key"] = "value"
    with pytest.raises(sops.SopsError, match="should be encrypted") as err:
        sops.decrypt(clear, identities)
    assert "'value'" not in str(err.value)  # a clear value in an encrypted place is not echoed


def test_decrypt_refuses_what_it_does_not_support() -> None:
    base = load_one(vector(*FLUX, "algorithms-age.yaml"))
    identities = keys(*FLUX, "keys-age.txt")
    pgp_only = copy.deepcopy(base)
    pgp_only["sops"]["age"] = []
    pgp_only["sops"]["pgp"] = [{"fp": "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4", "enc": "x"}]
    with pytest.raises(sops.SopsError, match=r"no age recipient \(pgp\)"):
        sops.decrypt(pgp_only, identities)
    shamir = copy.deepcopy(base)
    shamir["sops"]["key_groups"] = [{"age": base["sops"]["age"]}]
    with pytest.raises(sops.SopsError, match="key_groups"):
        sops.decrypt(shamir, identities)
    comments = copy.deepcopy(base)
    del comments["sops"]["encrypted_regex"]
    comments["sops"]["encrypted_comment_regex"] = "sops:enc"
    with pytest.raises(sops.SopsError, match="not supported"):
        sops.decrypt(comments, identities)
    two_rules = copy.deepcopy(base)
    two_rules["sops"]["unencrypted_suffix"] = "_unencrypted"
    with pytest.raises(sops.SopsError, match="more than one"):
        sops.decrypt(two_rules, identities)
    with pytest.raises(sops.SopsError, match="not a sops-encrypted"):
        sops.decrypt({"kind": "Secret"}, identities)


# --------------------------------------------------------------------------- our own output


def test_round_trip_of_a_pull_secret_to_two_recipients() -> None:
    (key_a, pub_a), (key_b, pub_b) = new_identity(), new_identity()
    secret = pull_secret()
    encrypted = sops.encrypt(secret, [pub_a, pub_b])
    assert secret == pull_secret()  # input left alone
    text = sopsyaml.dump(encrypted)
    for needle in ("s3cr3t-Pa55word", "robot$puller", secret["data"][".dockerconfigjson"]):
        assert needle not in text
    [loaded] = sopsyaml.load(text)
    assert loaded == encrypted
    for key in (key_a, key_b):
        assert sops.decrypt(loaded, [key]) == secret
    assert {k: loaded[k] for k in ("apiVersion", "kind", "metadata", "type")} == {
        k: secret[k] for k in ("apiVersion", "kind", "metadata", "type")
    }
    assert ENC.match(loaded["data"][".dockerconfigjson"])
    assert sops.recipients(loaded) == [pub_a, pub_b]
    assert "metadata:\n  name: registry-credentials\n" in text
    assert '    managed: "yes"\n' in text  # a YAML 1.1 bool spelling stays a quoted string
    assert "      enc: |\n        -----BEGIN AGE ENCRYPTED FILE-----\n" in text
    assert "\n  mac: ENC[AES256_GCM," in text  # the marker Flux's kustomize-controller looks for


def test_sops_block_layout_is_that_of_sops_3_10() -> None:
    _, pub = new_identity()
    moment = datetime(2026, 3, 1, 13, 5, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    meta = sops.encrypt(pull_secret(), [pub], now=moment)["sops"]
    assert list(meta) == ["age", "lastmodified", "mac", "encrypted_regex", "version"]
    assert meta["lastmodified"] == "2026-03-01T11:05:09Z"
    assert meta["encrypted_regex"] == r"^(data|stringData)$"
    assert meta["version"] == sops.SOPS_VERSION
    flux = load_one(vector(*FLUX, "global-secret.yaml"))["sops"]
    assert list(meta) == list(flux)  # same keys, same order as the file sops 3.10.2 wrote


def test_two_encryptions_differ_and_both_decrypt() -> None:
    key, pub = new_identity()
    first, second = (sops.encrypt(pull_secret(), [pub]) for _ in range(2))
    assert first["data"] != second["data"]
    assert first["sops"]["age"][0]["enc"] != second["sops"]["age"][0]["enc"]
    assert sops.decrypt(first, [key]) == sops.decrypt(second, [key]) == pull_secret()


def test_output_follows_the_format_checked_independently() -> None:
    """Data key, AAD, IV size, MAC and its AAD, computed here by hand from the format description."""
    key, pub = new_identity()
    secret = pull_secret()
    secret["stringData"] = {"n": "", "list": ["a", "b"]}
    encrypted = sops.encrypt(secret, [pub])
    data_key = pyrage.decrypt(encrypted["sops"]["age"][0]["enc"].encode(), [pyrage.x25519.Identity.from_str(key)])
    assert len(data_key) == 32

    def open_value(value: str, aad: str) -> bytes:
        data, iv, tag, _ = ENC.match(value).groups()
        assert len(base64.b64decode(iv)) == 32
        sealed = base64.b64decode(data) + base64.b64decode(tag)
        return AESGCM(data_key).decrypt(base64.b64decode(iv), sealed, aad.encode())

    assert (
        open_value(encrypted["data"][".dockerconfigjson"], "data:.dockerconfigjson:").decode()
        == (secret["data"][".dockerconfigjson"])
    )
    assert [open_value(v, "stringData:list:") for v in encrypted["stringData"]["list"]] == [b"a", b"b"]
    assert encrypted["stringData"]["n"] == ""  # empty strings are never encrypted
    digest = hashlib.sha512()
    for _, value in leaves(secret):
        digest.update(value.encode())
    mac = open_value(encrypted["sops"]["mac"], encrypted["sops"]["lastmodified"]).decode()
    assert mac == digest.hexdigest().upper()


def test_re_encrypting_a_real_plaintext_matches_the_real_structure() -> None:
    """Our encryptor, given a vector's plaintext, recipients and rule, encrypts the same leaves with the same types."""
    cases = [
        (FLUX, "algorithms-age", ".yaml", "keys-age.txt"),
        (GETSOPS, "example", ".yaml", "keys-main-7ebee3dc7.txt"),
        (GETSOPS, "example", ".json", "keys-main-7ebee3dc7.txt"),
    ]
    for where, stem, ext, key_file in cases:
        real = load_one(vector(*where, stem + ext))
        plain = load_one(vector(*where, stem + ".decrypted" + ext))
        identities = keys(*where, key_file)
        mine = sops.encrypt(plain, sops.recipients(real), encrypted_regex=real["sops"].get("encrypted_regex"))
        for identity in identities:
            assert sops.decrypt(mine, [identity]) == plain
        body = {k: v for k, v in real.items() if k != "sops"}
        ours = {k: v for k, v in mine.items() if k != "sops"}
        real_leaves, our_leaves = leaves(body), leaves(ours)
        assert [p for p, _ in real_leaves] == [p for p, _ in our_leaves]
        for (path, theirs), (_, own) in zip(real_leaves, our_leaves, strict=True):
            if isinstance(theirs, str) and ENC.match(theirs):
                assert ENC.match(own).group(4) == ENC.match(theirs).group(4), path
            else:
                assert own == theirs, path
        rule = "encrypted_regex" if "encrypted_regex" in real["sops"] else "unencrypted_suffix"
        assert mine["sops"][rule] == real["sops"][rule]


def test_values_of_every_type_round_trip_through_yaml() -> None:
    key, pub = new_identity()
    obj = {
        "data": {
            "s": "multi\nline\n",
            "i": 42,
            "f": 1.234568e9,
            "small": 1e-7,
            "b": [True, False],
            "empty": "",
            "none": None,
            "odd": ["yes", "0o17", "1e3", "2024-01-01", "~", " lead", "#x"],
        },
        "clear": {"n": 7, "t": True},
    }
    encrypted = sops.encrypt(obj, [pub])
    kinds = {k: ENC.match(v).group(4) for k, v in encrypted["data"].items() if isinstance(v, str) and v}
    assert kinds == {"s": "str", "i": "int", "f": "float", "small": "float"}
    assert [ENC.match(v).group(4) for v in encrypted["data"]["b"]] == ["bool", "bool"]
    assert encrypted["data"]["none"] is None and encrypted["clear"] == obj["clear"]
    [loaded] = sopsyaml.load(sopsyaml.dump(encrypted))
    assert sops.decrypt(loaded, [key]) == obj


def test_encrypt_without_regex_uses_the_default_unencrypted_suffix() -> None:
    key, pub = new_identity()
    obj = {"a": "secret", "keep_unencrypted": {"x": "clear"}}
    encrypted = sops.encrypt(obj, [pub], encrypted_regex=None)
    assert ENC.match(encrypted["a"]) and encrypted["keep_unencrypted"] == {"x": "clear"}
    assert encrypted["sops"]["unencrypted_suffix"] == "_unencrypted"
    assert sops.decrypt(encrypted, [key]) == obj
    del encrypted["sops"]["unencrypted_suffix"]  # no rule in the file: sops applies the same default
    assert sops.decrypt(encrypted, [key]) == obj


def test_mac_only_encrypted_lets_clear_fields_change() -> None:
    key, pub = new_identity()
    encrypted = sops.encrypt(pull_secret(), [pub], mac_only_encrypted=True)
    assert encrypted["sops"]["mac_only_encrypted"] is True
    assert list(encrypted["sops"])[-2:] == ["mac_only_encrypted", "version"]
    encrypted["metadata"]["namespace"] = "elsewhere"
    assert sops.decrypt(encrypted, [key])["metadata"]["namespace"] == "elsewhere"
    encrypted["data"]["other"] = encrypted["data"].pop(".dockerconfigjson")
    with pytest.raises(sops.SopsError):
        sops.decrypt(encrypted, [key])


def test_encrypt_refuses_bad_input() -> None:
    _, pub = new_identity()
    with pytest.raises(sops.SopsError, match="already"):
        sops.encrypt(sops.encrypt(pull_secret(), [pub]), [pub])
    with pytest.raises(sops.SopsError, match="at least one"):
        sops.encrypt(pull_secret(), [])
    with pytest.raises(sops.SopsError, match="no type"):
        sops.encrypt({"data": {"when": datetime.now(UTC)}}, [pub])
    with pytest.raises(sops.SopsError, match="regular expression"):
        sops.encrypt(pull_secret(), [pub], encrypted_regex="(")


# --------------------------------------------------------------------------- keys and recipients


@pytest.mark.parametrize(
    "text", ["", "age1", "age1notvalid", "ssh-ed25519 AAAAC3Nza", "AGE-SECRET-KEY-1ABC", "age1 two\nlines"]
)
def test_bad_recipients_are_one_line_errors(text: str) -> None:
    with pytest.raises(sops.SopsError) as err:
        agekeys.check_recipient(text)
    assert isinstance(err.value, InputError) and "\n" not in str(err.value)


def test_good_recipient_is_returned_stripped() -> None:
    _, pub = new_identity()
    assert agekeys.check_recipient(f"  {pub}\n") == pub


def test_bad_identities_are_one_line_errors_that_never_echo_the_key(tmp_path: Path) -> None:
    key, _ = new_identity()
    broken = key[:-3] + ("QQQ" if not key.endswith("QQQ") else "PPP")
    for text in (f"# comment\n{broken}\n", "# only comments\n\n", "AGE-SECRET-KEY-PQ-1ABC\n", "not a key\n"):
        with pytest.raises(sops.SopsError) as err:
            agekeys.parse_identities(text)
        assert "\n" not in str(err.value) and broken not in str(err.value)
    with pytest.raises(sops.SopsError, match="line 2"):
        agekeys.parse_identities(f"# c\n{broken}")
    with pytest.raises(sops.SopsError, match=re.escape(str(tmp_path / "missing.txt"))):
        agekeys.load_identities([tmp_path / "missing.txt"])
    with pytest.raises(sops.SopsError, match="not a valid age identity"):
        sops.decrypt(load_one(vector(*FLUX, "algorithms-age.yaml")), [broken])


def test_identities_from_environment(tmp_path: Path) -> None:
    (key_a, _), (key_b, _), (key_c, _) = new_identity(), new_identity(), new_identity()
    key_file = tmp_path / "keys.txt"
    key_file.write_text(f"# created: now\n{key_b}\n")
    config = tmp_path / "config"
    assert agekeys.identities_from_environment({"XDG_CONFIG_HOME": str(config)}) == []
    (config / "sops" / "age").mkdir(parents=True)
    (config / "sops" / "age" / "keys.txt").write_text(key_c)
    env = {"SOPS_AGE_KEY": key_a, "SOPS_AGE_KEY_FILE": str(key_file), "XDG_CONFIG_HOME": str(config)}
    assert agekeys.identities_from_environment(env) == [key_a, key_b, key_c]


def test_is_encrypted_and_recipients() -> None:
    real = load_one(vector(*FLUX, "algorithms-age.yaml"))
    assert sops.is_encrypted(real)
    assert sops.recipients(real) == ["age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29"]
    assert not sops.is_encrypted(pull_secret())
    assert not sops.is_encrypted({"sops": "x"}) and not sops.is_encrypted(["sops"])
    with pytest.raises(sops.SopsError):
        sops.recipients(pull_secret())


# --------------------------------------------------------------------------- YAML


def test_load_types_like_go_yaml_v3() -> None:
    text = (
        "a: yes\nb: on\nc: 2024-01-01T00:00:00Z\nd: 0o17\ne: 1e3\nf: true\ng: 1_000\nh: ~\ni: 017\n"
        "j: '1'\nk: .5\nl: -.inf\nm: 0x1F\nn: 1:20\no: +\n---\n---\nz: 1\n"
    )
    docs = sopsyaml.load(text)
    assert docs[0] == {
        "a": "yes",
        "b": "on",
        "c": "2024-01-01T00:00:00Z",
        "d": 15,
        "e": 1000.0,
        "f": True,
        "g": 1000,
        "h": None,
        "i": 15,
        "j": "1",
        "k": 0.5,
        "l": float("-inf"),
        "m": 31,
        "n": "1:20",
        "o": "+",
    }
    assert docs[1] == {"z": 1}


def test_dump_quotes_what_a_yaml_reader_would_retype() -> None:
    obj = {"v": ["yes", "no", "on", "0o17", "1e3", "1_000", "2024-01-01", "null", "", "08", "True", "1:20", "x"]}
    text = sopsyaml.dump(obj)
    assert sopsyaml.load(text) == [obj]
    assert yaml.safe_load(text) == obj  # a YAML 1.1 reader gets the same strings too
    assert "  - x\n" in text and '  - "yes"\n' in text


@pytest.mark.parametrize("text", ["a: 1\na: 2\n", "- a\n", "a: [\n", "just text\n"])
def test_load_rejects_bad_yaml_in_one_line(text: str) -> None:
    with pytest.raises(sops.SopsError) as err:
        sopsyaml.load(text)
    assert "\n" not in str(err.value)
