"""The Corefile parser: server blocks, nested blocks, import, snippets, and errors with file:line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kdns.corefile.parser import load, load_parsed, parse, parse_text
from kdns.corefile.tree import Directive, ServerBlock
from kdns.errors import ConfigError
from conftest import KUBEADM_COREFILE

KUBEADM_PLUGINS = {
    "errors", "health", "ready", "kubernetes", "prometheus", "forward", "cache", "loop", "reload",
    "loadbalance",
}
KNOWN = KUBEADM_PLUGINS | {"whoami", "log", "hosts", "file", "bind"}


def known(name: str) -> bool:
    return name in KNOWN


def tree(directives: list[Directive]) -> list[tuple[object, ...]]:
    """A directive list as plain tuples: (name, args, line, plugin[, nested...])."""
    out: list[tuple[object, ...]] = []
    for d in directives:
        row: tuple[object, ...] = (d.name.text, d.values, d.line, d.plugin)
        if d.block is not None:
            row += (tree(d.block),)
        out.append(row)
    return out


def zones(block: ServerBlock) -> list[tuple[str, int | None]]:
    return [(k.zone, k.port) for k in block.keys]


KUBEADM = KUBEADM_COREFILE

KUBEADM_TREE = [
    ("errors", [], 2, "errors"),
    ("health", [], 3, "health", [("lameduck", ["5s"], 3, "health")]),
    ("ready", [], 4, "ready"),
    ("kubernetes", ["cluster.local", "in-addr.arpa", "ip6.arpa"], 5, "kubernetes", [
        ("pods", ["insecure"], 6, "kubernetes"),
        ("fallthrough", ["in-addr.arpa", "ip6.arpa"], 7, "kubernetes"),
        ("ttl", ["30"], 8, "kubernetes"),
    ]),
    ("prometheus", [":9153"], 10, "prometheus"),
    ("forward", [".", "/etc/resolv.conf"], 11, "forward", [("max_concurrent", ["1000"], 11, "forward")]),
    ("cache", ["30"], 12, "cache", [
        ("disable", ["success", "cluster.local"], 12, "cache"),
        ("disable", ["denial", "cluster.local"], 13, "cache"),
    ]),
    ("loop", [], 14, "loop"),
    ("reload", [], 15, "reload"),
    ("loadbalance", [], 16, "loadbalance"),
]


def test_kubeadm_corefile() -> None:
    (block,) = parse(KUBEADM, "Corefile", known=known)
    assert zones(block) == [(".", 53)]
    assert (block.file, block.line) == ("Corefile", 1)
    assert tree(block.directives) == KUBEADM_TREE


def test_kubeadm_unknown_until_plugins_exist() -> None:
    # Only the plugins kdns already has: the first missing one is named with its line.
    with pytest.raises(ConfigError) as e:
        parse(KUBEADM, "Corefile", known={"errors", "health", "ready"}.__contains__)
    assert (e.value.file, e.value.line, e.value.message) == (
        "Corefile", 5, "unknown directive 'kubernetes'"
    )


def test_default_known_is_the_plugin_registry() -> None:
    # `etcd` is a CoreDNS plugin kdns does not have (not in ORDER).
    with pytest.raises(ConfigError, match="unknown directive 'etcd'"):
        parse(". {\n  etcd skydns.local\n}\n", "Corefile")


@pytest.mark.parametrize(
    ("source", "expected_keys"),
    [
        ("example.org {\n}", [[("example.org.", None)]]),
        ("example.org example.net:1053 {\n}", [[("example.org.", None), ("example.net.", 1053)]]),
        ("a.org, b.org,c.org {\n}", [[("a.org.", None), ("b.org.", None), ("c.org.", None)]]),
        ("a.org,\n  b.org,\n  c.org\n{\n}", [[("a.org.", None), ("b.org.", None), ("c.org.", None)]]),
        # A key list may end on its line, with the '{' on the next.
        ("a.org b.org\n{\n  whoami\n}", [[("a.org.", None), ("b.org.", None)]]),
        ("dns://.:53 {\n}\ncluster.local:1053 {\n}", [[(".", 53)], [("cluster.local.", 1053)]]),
        ("10.0.0.0/23 {\n}", [[("0.0.10.in-addr.arpa.", None), ("1.0.10.in-addr.arpa.", None)]]),
        # An empty key ("" or an unset variable) is skipped, as in Caddy.
        ('"" a.org {\n}', [[("a.org.", None)]]),
        ("{$KDNS_SURELY_UNSET} a.org {\n}", [[("a.org.", None)]]),
        # Keys only, no block at all.
        ("example.org", [[("example.org.", None)]]),
        # Several blocks on one line.
        ("a.org { whoami } b.org { whoami }", [[("a.org.", None)], [("b.org.", None)]]),
    ],
)
def test_keys(source: str, expected_keys: list[list[tuple[str, int | None]]]) -> None:
    assert [zones(b) for b in parse(source, "Corefile", known=known)] == expected_keys


def test_block_without_braces_runs_to_end() -> None:
    (block,) = parse("example.org:1053\nwhoami\nlog\n", "Corefile", known=known)
    assert tree(block.directives) == [("whoami", [], 2, "whoami"), ("log", [], 3, "log")]


def test_nested_blocks_any_depth() -> None:
    source = """\
. {
    hosts {
        a 1 {
            b 2 {
                c 3
            }
            d
        }
        e { }
    }
    whoami
}
"""
    (block,) = parse(source, "Corefile", known=known)
    assert tree(block.directives) == [
        ("hosts", [], 2, "hosts", [
            ("a", ["1"], 3, "hosts", [
                ("b", ["2"], 4, "hosts", [("c", ["3"], 5, "hosts")]),
                ("d", [], 7, "hosts"),
            ]),
            ("e", [], 9, "hosts", []),
        ]),
        ("whoami", [], 11, "whoami"),
    ]


def test_one_line_blocks_and_closing_braces_together() -> None:
    (block,) = parse(". { cache 30 { success 10 } }", "Corefile", known=known)
    assert tree(block.directives) == [("cache", ["30"], 1, "cache", [("success", ["10"], 1, "cache")])]


def test_error_helpers_name_the_plugin_for_nested_lines() -> None:
    (block,) = parse(". {\n  cache {\n    bogus 1\n  }\n}\n", "conf/Corefile", known=known)
    option = block.directives[0].block[0]  # type: ignore[index]
    err = option.unknown_option()
    assert (err.file, err.line, err.directive) == ("conf/Corefile", 3, "cache")
    assert "bogus" in err.message


def test_quoted_strings_and_escapes() -> None:
    source = '. {\n  log . "{remote} - \\"{type} {name}\\"" `raw \\"x\\"`\n  hosts "my file" {\n  }\n}\n'
    (block,) = parse(source, "Corefile", known=known)
    log, hosts = block.directives
    assert log.values == [".", '{remote} - "{type} {name}"', 'raw \\"x\\"']
    assert [t.quoted for t in log.args] == [False, True, True]
    assert hosts.values == ["my file"]


def test_quoted_string_spanning_lines() -> None:
    (block,) = parse('. {\n  log "a\nb" x\n  whoami\n}', "Corefile", known=known)
    assert tree(block.directives) == [("log", ["a\nb", "x"], 2, "log"), ("whoami", [], 4, "whoami")]


def test_quoted_brace_is_an_argument() -> None:
    (block,) = parse('. {\n  log "{" "}"\n}', "Corefile", known=known)
    assert block.directives[0].values == ["{", "}"]


def test_comments_everywhere() -> None:
    source = """\
# leading comment
example.org:1053 # after the key
{ # after the brace
    # a whole line
    hosts { # after a nested brace
        1.2.3.4 a.example.org # after an option
    } # after a nested close
    whoami#glued to the word
} # after the block
# trailing
"""
    (block,) = parse(source, "Corefile", known=known)
    assert zones(block) == [("example.org.", 1053)]
    assert tree(block.directives) == [
        ("hosts", [], 5, "hosts", [("1.2.3.4", ["a.example.org"], 6, "hosts")]),
        ("whoami", [], 8, "whoami"),
    ]


def test_env_substitution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDNS_ZONE", "Cluster.Local")
    monkeypatch.setenv("KDNS_PORT", "1053")
    monkeypatch.setenv("KDNS_UPSTREAM", "9.9.9.9")
    monkeypatch.delenv("KDNS_UNSET", raising=False)
    source = "{$KDNS_ZONE}:{%KDNS_PORT%} {\n  forward . {$KDNS_UPSTREAM} {$KDNS_UNSET}\n  log \"to {%KDNS_UPSTREAM%}\"\n}"
    (block,) = parse(source, "Corefile", known=known)
    assert zones(block) == [("cluster.local.", 1053)]
    assert block.keys[0].token.text == "Cluster.Local:1053"
    assert block.directives[0].values == [".", "9.9.9.9", ""]
    assert block.directives[1].values == ["to 9.9.9.9"]


def test_line_continuation() -> None:
    (block,) = parse(". {\n  forward . \\\n    1.1.1.1 \\\n    8.8.8.8\n  whoami\n}", "Corefile", known=known)
    assert tree(block.directives) == [
        ("forward", [".", "1.1.1.1", "8.8.8.8"], 2, "forward"),
        ("whoami", [], 5, "whoami"),
    ]
    assert [t.line for t in block.directives[0].args] == [2, 3, 4]


def test_snippets() -> None:
    source = """\
(common) {
    errors
    cache 30 {
        success 10
    }
}
(empty) {
}
example.org {
    import common
    import empty
    whoami
}
example.net {
    log
    import common
}
"""
    org, net = parse(source, "Corefile", known=known)
    common = [
        ("errors", [], 2, "errors"),
        ("cache", ["30"], 3, "cache", [("success", ["10"], 4, "cache")]),
    ]
    assert tree(org.directives) == common + [("whoami", [], 12, "whoami")]
    assert tree(net.directives) == [("log", [], 15, "log")] + common
    # Each import gets its own Directive objects.
    assert org.directives[0] is not net.directives[1]


def test_snippet_imported_inside_a_nested_block_and_on_one_line() -> None:
    source = "(upstreams) {\n  max_fails 3\n  policy sequential\n}\n. { forward . 1.1.1.1 {\n    import upstreams\n  }\n}\n. :1053 { import upstreams }\n"
    with pytest.raises(ConfigError, match="unknown directive 'max_fails'"):
        parse(source, "Corefile", known=known)
    (block,) = parse(source.split(". :1053")[0], "Corefile", known=known)
    assert tree(block.directives) == [
        ("forward", [".", "1.1.1.1"], 5, "forward", [
            ("max_fails", ["3"], 2, "forward"),
            ("policy", ["sequential"], 3, "forward"),
        ]),
    ]


def test_snippet_holding_whole_server_blocks() -> None:
    source = "(blocks) {\n  a.org {\n    whoami\n  }\n}\nimport blocks\nb.org {\n  log\n}\n"
    blocks = parse(source, "Corefile", known=known)
    assert [zones(b) for b in blocks] == [[("a.org.", None)], [("b.org.", None)]]


def write(base: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_import_files_relative_to_the_importing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {
        "etc/Corefile": "import blocks/zones.conf\n. {\n  import plugins.conf\n}\n",
        "etc/blocks/zones.conf": "example.org {\n  import ../plugins.conf\n  log\n}\n",
        "etc/plugins.conf": "whoami\nerrors\n",
    })
    monkeypatch.chdir(tmp_path)  # relative to the file, not to the working directory
    parsed = load_parsed(str(tmp_path / "etc" / "Corefile"), known=known)
    org, root = parsed.blocks
    plugins_conf = str(tmp_path / "etc" / "plugins.conf")
    assert [(d.name.text, d.file, d.line) for d in org.directives] == [
        ("whoami", plugins_conf, 1), ("errors", plugins_conf, 2),
        ("log", str(tmp_path / "etc" / "blocks" / "zones.conf"), 3),
    ]
    assert (org.file, org.line) == (str(tmp_path / "etc" / "blocks" / "zones.conf"), 1)
    assert [d.name.text for d in root.directives] == ["whoami", "errors"]
    assert parsed.files == [
        str(tmp_path / "etc" / "Corefile"),
        str(tmp_path / "etc" / "blocks" / "zones.conf"),
        plugins_conf,
    ]


def test_import_glob(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, {
        "Corefile": ". {\n  whoami\n}\nimport conf.d/*.conf\nimport nothing/*.conf\n",
        "conf.d/20-b.conf": "b.org {\n  log\n}\n",
        "conf.d/10-a.conf": "a.org {\n  log\n}\n",
        "conf.d/README": "not imported",
    })
    parsed = load_parsed(str(tmp_path / "Corefile"), known=known)
    assert [zones(b) for b in parsed.blocks] == [[(".", None)], [("a.org.", None)], [("b.org.", None)]]
    assert parsed.files[1:] == [str(tmp_path / "conf.d" / "10-a.conf"), str(tmp_path / "conf.d" / "20-b.conf")]
    assert "no files match import pattern nothing/*.conf" in caplog.text


def test_import_glob_inside_a_block_and_absolute_path(tmp_path: Path) -> None:
    write(tmp_path, {"inc/one": "whoami\n", "inc/two": "log\n", "abs.conf": "errors\n"})
    source = f". {{\n  import inc/*\n  import {tmp_path / 'abs.conf'}\n}}\n"
    (block,) = parse(source, str(tmp_path / "Corefile"), known=known)
    assert [d.name.text for d in block.directives] == ["whoami", "log", "errors"]


def test_same_file_imported_twice_is_not_a_cycle(tmp_path: Path) -> None:
    write(tmp_path, {"p.conf": "whoami\n", "Corefile": "a.org {\n import p.conf\n}\nb.org {\n import p.conf\n}\n"})
    blocks = load(str(tmp_path / "Corefile"), known=known)
    assert [[d.name.text for d in b.directives] for b in blocks] == [["whoami"], ["whoami"]]


def test_snippets_defined_in_an_imported_file(tmp_path: Path) -> None:
    write(tmp_path, {"snippets.conf": "(base) {\n  errors\n  log\n}\n", "Corefile": "import snippets.conf\n. {\n  import base\n}\n"})
    (block,) = load(str(tmp_path / "Corefile"), known=known)
    assert [(d.name.text, d.line) for d in block.directives] == [("errors", 2), ("log", 3)]
    assert block.directives[0].file == str(tmp_path / "snippets.conf")


def test_crlf_and_bom() -> None:
    (block,) = parse("\ufeff. {\r\n  whoami\r\n}\r\n", "Corefile", known=known)
    assert tree(block.directives) == [("whoami", [], 2, "whoami")]


def test_empty_input_has_no_blocks() -> None:
    assert parse("", "Corefile") == []
    assert parse("# nothing\n(snip) {\n  log\n}\n", "Corefile") == []


def test_parse_text_lists_the_main_file() -> None:
    assert parse_text(". {\n}\n", "some/Corefile").files == ["some/Corefile"]


# -- broken Corefiles: each error names the right file and line ------------------------------

BROKEN = [
    # (name, files, error file, line, message fragment)
    ("unclosed server block", {"Corefile": ". {\n  whoami\n"}, "Corefile", 1, "unclosed '{'"),
    ("unclosed nested block", {"Corefile": ". {\n  cache 30 {\n    success 10\n"}, "Corefile", 2, "unclosed '{'"),
    ("stray close at top level", {"Corefile": ". {\n  whoami\n}\n}\n"}, "Corefile", 4, "unexpected '}'"),
    ("stray close in braceless block", {"Corefile": "example.org\nwhoami\n}\n"}, "Corefile", 3, "unexpected '}'"),
    ("close before any block", {"Corefile": "\n}\n"}, "Corefile", 2, "unexpected '}'"),
    ("unknown directive", {"Corefile": ". {\n  whoami\n  bogus arg\n}\n"}, "Corefile", 3, "unknown directive 'bogus'"),
    ("block with no keys", {"Corefile": "# x\n{\n  whoami\n}\n"}, "Corefile", 2, "no keys"),
    ("only empty keys", {"Corefile": '"" {\n}\n'}, "Corefile", 1, "no keys"),
    ("garbage key", {"Corefile": "\nexa$mple.org {\n}\n"}, "Corefile", 2, "not a valid label"),
    ("port out of range", {"Corefile": "a.org {\n}\n.:99999 {\n}\n"}, "Corefile", 3, "out of range"),
    ("port not a number", {"Corefile": ".:domain {\n}\n"}, "Corefile", 1, "bad port"),
    ("unsupported scheme tls", {"Corefile": "tls://.:853 {\n  whoami\n}\n"}, "Corefile", 1, "not supported by kdns"),
    ("unsupported scheme grpc", {"Corefile": ". {\n}\ngrpc://. {\n}\n"}, "Corefile", 3, "not supported by kdns"),
    ("bad CIDR", {"Corefile": "10.0.0.0/40 {\n}\n"}, "Corefile", 1, "not a valid CIDR"),
    ("trailing comma before brace", {"Corefile": "a.org, {\n}\n"}, "Corefile", 1, "expected another key"),
    ("trailing comma at end", {"Corefile": "a.org {\n}\nb.org,"}, "Corefile", 3, "expected another key"),
    ("brace on its own line", {"Corefile": ". {\n  forward . 1.1.1.1\n  {\n    max_fails 1\n  }\n}\n"}, "Corefile", 3, "unexpected '{'"),
    ("words after a closing brace", {"Corefile": ". {\n  cache { success 1 } 30\n}\n"}, "Corefile", 2, "unexpected '30' after '}'"),
    ("unterminated quote", {"Corefile": ". {\n  log \"abc\n}\n"}, "Corefile", 2, "unterminated"),
    ("import of a missing file", {"Corefile": ". {\n  whoami\n  import nothere.conf\n}\n"}, "Corefile", 3, "file to import not found: nothere.conf"),
    ("import of an undefined snippet", {"Corefile": "(other) {\n}\n. {\n  import common\n}\n"}, "Corefile", 4, "file to import not found: common"),
    ("import without argument", {"Corefile": ". {\n  import\n  whoami\n}\n"}, "Corefile", 2, "import needs one argument"),
    ("import with two arguments", {"Corefile": ". {\n  import a b\n}\n"}, "Corefile", 2, "only one argument"),
    ("import of an empty path", {"Corefile": ". {\n  import \"\"\n}\n"}, "Corefile", 2, "non-empty"),
    ("import of a directory", {"Corefile": ". {\n  import sub\n}\n", "sub/x": ""}, "Corefile", 2, "is a directory"),
    ("import cycle through files", {
        "Corefile": ". {\n  import a.conf\n}\n",
        "a.conf": "whoami\nimport b.conf\n",
        "b.conf": "\nimport a.conf\n",
    }, "b.conf", 2, "import cycle"),
    ("file importing itself", {"Corefile": "import Corefile\n"}, "Corefile", 1, "import cycle"),
    ("snippet importing itself", {"Corefile": "(a) {\n  whoami\n  import a\n}\n. {\n  import a\n}\n"}, "Corefile", 3, "import cycle"),
    ("snippets importing each other", {"Corefile": "(a) {\n  import b\n}\n(b) {\n  import a\n}\n. {\n  import a\n}\n"}, "Corefile", 5, "import cycle: snippet a -> snippet b -> snippet a"),
    ("snippet redeclared", {"Corefile": "(a) {\n}\n\n(a) {\n}\n"}, "Corefile", 4, "redeclaration"),
    ("snippet without braces", {"Corefile": "(a)\nwhoami\n"}, "Corefile", 1, "must be followed by '{'"),
    ("unclosed snippet", {"Corefile": "(a) {\n  whoami\n"}, "Corefile", 1, "unclosed '{'"),
    ("snippet mixed with keys", {"Corefile": "(a) b.org {\n}\n"}, "Corefile", 1, "must be the only key"),
    ("error inside an imported file", {
        "Corefile": ". {\n  import inc/plugins.conf\n}\n",
        "inc/plugins.conf": "whoami\n\n   nosuchplugin\n",
    }, "inc/plugins.conf", 3, "unknown directive 'nosuchplugin'"),
    ("unclosed brace inside an imported file", {
        "Corefile": "import zones.conf\n",
        "zones.conf": "a.org {\n  whoami\n",
    }, "zones.conf", 1, "unclosed '{'"),
]


@pytest.mark.parametrize(
    ("files", "error_file", "line", "fragment"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_broken_corefiles(tmp_path: Path, files: dict[str, str], error_file: str, line: int, fragment: str) -> None:
    write(tmp_path, files)
    main = tmp_path / "Corefile"
    with pytest.raises(ConfigError) as e:
        load(str(main), known=known)
    assert e.value.file == str(tmp_path / error_file)
    assert e.value.line == line
    assert fragment in e.value.message
    # The message a user sees starts with file:line.
    assert str(e.value).startswith(f"{tmp_path / error_file}:{line}: ")


def test_missing_corefile(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read Corefile .*nope"):
        load(str(tmp_path / "nope"))


def test_import_expansion_is_capped(tmp_path: Path) -> None:
    # Each file imports the next one twice: 2**12 expansions without a cap.
    files = {f"f{i}": f"import f{i + 1}\nimport f{i + 1}\n" for i in range(12)}
    files["f12"] = "whoami\n"
    files["Corefile"] = ". {\n  import f0\n}\n"
    write(tmp_path, files)
    with pytest.raises(ConfigError, match="more than 1000 imports"):
        load(str(tmp_path / "Corefile"), known=known)


def test_imported_file_errors_use_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"Corefile": ". {\n  import x.conf\n}\n", "x.conf": "bogus\n"})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        load("Corefile", known=known)
    assert e.value.file == os.path.join(str(tmp_path), "x.conf")
