//! Expected strings are what docker 28's CLI printed for the same template
//! (`docker inspect --format` of a container with these fields, against a
//! berthd), unless a comment says otherwise.

use super::*;
use serde_json::json;

fn data() -> Value {
    json!({
        "Name": "/web",
        "Path": "sleep",
        "State": {"Status": "running", "Running": true, "Pid": 23100, "ExitCode": 0},
        "Config": {
            "Cmd": ["sleep", "100000"],
            "Env": ["X=1"],
            "Entrypoint": null,
            "Image": "busybox",
            "Labels": {"a.b": "c", "tier": "front"},
            "Volumes": {},
            "Healthcheck": null
        },
        "Mounts": [{"Type": "bind", "Source": "/tmp/w", "Destination": "/mnt", "RW": true}],
        "NetworkSettings": {
            "Networks": {"bridge": {"IPAddress": "172.23.0.2", "Aliases": null}},
            "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
        }
    })
}

fn r(t: &str) -> String {
    match Template::parse(t).and_then(|t| t.render(&data())) {
        Ok(s) => s,
        Err(e) => panic!("{t}: {e}"),
    }
}

/// The error of a template that parses but fails to run.
fn exec_err(t: &str) -> String {
    let tmpl = Template::parse(t).unwrap_or_else(|e| panic!("{t}: {e}"));
    match tmpl.render(&data()) {
        Ok(s) => panic!("{t}: rendered {s:?}"),
        Err(e) => e.to_string(),
    }
}

fn parse_err(t: &str) -> String {
    match Template::parse(t) {
        Ok(_) => panic!("{t}: parsed"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn fields_and_nesting() {
    assert_eq!(r("{{.Name}}"), "/web");
    assert_eq!(r("{{ .Name }}"), "/web");
    assert_eq!(
        r("{{.NetworkSettings.Networks.bridge.IPAddress}}"),
        "172.23.0.2"
    );
    assert_eq!(r("{{.Config.Labels.tier}}"), "front");
    assert_eq!(r("{{.Config.Labels.nope}}"), "<no value>");
    assert_eq!(r("{{(.Name)}}"), "/web");
    assert_eq!(r("{{(.Config).Image}}"), "busybox");
    assert_eq!(r("{{(index .Mounts 0).Destination}}"), "/mnt");
    assert_eq!(r("{{$.Config.Image}}"), "busybox");
    assert_eq!(r("{{index . \"Name\"}}"), "/web");
}

#[test]
fn printing_values() {
    assert_eq!(r("{{.Config.Labels}}"), "map[a.b:c tier:front]");
    assert_eq!(r("{{.Config.Cmd}}"), "[sleep 100000]");
    assert_eq!(r("{{.State.Running}} {{.State.Pid}}"), "true 23100");
    assert_eq!(r("{{.Config.Healthcheck}}"), "<nil>");
    assert_eq!(r("{{true}} {{false}}"), "true false");
    assert_eq!(
        r("{{'a'}} {{0x10}} {{1e3}} {{-5}} {{1_000}}"),
        "97 16 1000 -5 1000"
    );
    assert_eq!(
        r("{{1.5}} {{2.0}} {{1e21}} {{0.000001}} {{1e-7}}"),
        "1.5 2 1e+21 1e-06 1e-07"
    );
    // Go's fmt.Println(1234567.0, 100000.0): %v switches to an exponent at 1e6.
    assert_eq!(r("{{1234567.0}} {{100000.0}}"), "1.234567e+06 100000");
    assert_eq!(r(r#"{{"a\tb\u00e9"}}"#), "a\tb\u{e9}");
    assert_eq!(r(r"{{`raw\n`}}"), r"raw\n");
}

#[test]
fn len_index_slice() {
    assert_eq!(r("{{len .Mounts}}"), "1");
    assert_eq!(
        r("{{len .Config.Labels}} {{len .Name}} {{len .Config.Env}}"),
        "2 4 1"
    );
    assert_eq!(r("{{.Config.Labels | len}}"), "2");
    assert_eq!(r(r#"{{"abc" | len}}"#), "3");
    assert_eq!(
        r(r#"{{index (index .NetworkSettings.Networks "bridge") "IPAddress"}}"#),
        "172.23.0.2"
    );
    assert_eq!(r("{{index .Config.Env 0}}"), "X=1");
    assert_eq!(r(r#"{{index .Config.Labels "a.b"}}"#), "c");
    assert_eq!(r(r#"{{index .Config.Labels "nope"}}"#), "");
    assert_eq!(r(r#"{{index .NetworkSettings.Networks "x"}}"#), "<nil>");
    assert_eq!(r("{{index .Name 0}}"), "47");
    assert_eq!(
        r("{{slice .Name 1 3}} {{slice .Config.Env 0 1}} {{slice .Name 2}}"),
        "we [X=1] eb"
    );
    assert_eq!(
        r("{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{(index $conf 0).HostPort}}{{end}}"),
        "80/tcp -> 8080"
    );
}

#[test]
fn comparisons_and_logic() {
    assert_eq!(
        r(r#"{{eq .State.Status "running"}} {{eq .State.Status "a" "running"}} {{ne 1 2}}"#),
        "true true true"
    );
    assert_eq!(
        r("{{eq .State.Pid 0}} {{.State.Pid | eq 0}}"),
        "false false"
    );
    assert_eq!(
        r(r#"{{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}}"#),
        "true true true false"
    );
    assert_eq!(
        r(r#"{{and 1 0 2}} {{or 0 "" "x"}} {{and 1 2}} {{or 0 ""}} {{not 0}} {{not "a"}}"#),
        "0 x 2  true false"
    );
    assert_eq!(r("{{.State.Running | not}}"), "false");
    assert_eq!(r("{{eq nil nil}}"), "true");
    assert_eq!(
        r("{{if and .State.Running (eq .State.Pid 0 | not)}}ok{{end}}"),
        "ok"
    );
    // `and` stops at the first false value: the failing index never runs.
    assert_eq!(r("{{and false (index .Config.Env 5)}}"), "false");
}

#[test]
fn print_functions() {
    assert_eq!(r(r#"{{.Name | printf "%s"}}"#), "/web");
    assert_eq!(r(r#"{{.Name | printf "%q"}}"#), "\"/web\"");
    assert_eq!(r(r#"{{printf "%s-%d" .Name 5}}"#), "/web-5");
    assert_eq!(
        r(r#"{{printf "%5.2f|%x|%X|%o|%b|%c|%t|%v" 3.14159 255 255 8 5 65 true .State.Pid}}"#),
        " 3.14|ff|FF|10|101|A|true|23100"
    );
    assert_eq!(r(r#"{{printf "%s"}}"#), "%!s(MISSING)");
    assert_eq!(r(r#"{{printf "%d" "x"}}"#), "%!d(string=x)");
    assert_eq!(r(r#"{{printf "%s" "a" "b"}}"#), "a%!(EXTRA string=b)");
    assert_eq!(
        r(r#"{{printf "%-8s|%8s|%08d|%+d|%x" "ab" "cd" 42 3 "hi"}}"#),
        "ab      |      cd|00000042|+3|6869"
    );
    assert_eq!(
        r(r#"{{printf "%5t|%-5d|%5q" true 3 "x"}}"#),
        " true|3    |  \"x\""
    );
    assert_eq!(
        r(r#"{{printf "%e" 1234.5}} {{printf "%g" 1234.5}} {{printf "%.3s" "abcdef"}}"#),
        "1.234500e+03 1234.5 abc"
    );
    assert_eq!(
        r(r#"{{printf "%*d" 5 3}} {{printf "%6.2f%%" 12.345}}"#),
        "    3  12.35%"
    );
    assert_eq!(
        r(r#"{{printf "%z" 1}} {{printf "%T" .Name}}"#),
        "%!z(int=1) string"
    );
    assert_eq!(
        r(r#"{{printf "%s" .Config.Env}} {{printf "%q" .Config.Env}} {{printf "%d" .Config.Env}}"#),
        r#"[X=1] ["X=1"] [%!d(string=X=1)]"#
    );
    assert_eq!(
        r(r#"{{printf "%s" 42}} {{printf "%s" nil}}"#),
        "%!s(int=42) %!s(<nil>)"
    );
    assert_eq!(
        r(r#"{{printf "%v" .Config.Labels}}"#),
        "map[a.b:c tier:front]"
    );
    assert_eq!(
        r(r#"{{3 | printf "%d-%s" "a"}}"#),
        "%!d(string=a)-%!s(int=3)"
    );
    assert_eq!(
        r(r#"{{printf "%v|%s" .Config.Labels.nope .Config.Labels.nope}}"#),
        "<nil>|%!s(<nil>)"
    );
    assert_eq!(r(r#"{{printf "%3c|%U" 65 65}}"#), "  A|U+0041");
    assert_eq!(r(r#"{{printf "%s" .Name | printf "%s!"}}"#), "/web!");
    assert_eq!(
        r(r#"{{print "a" "b" 1 2 "c"}} {{print 1 2}} {{print nil}}"#),
        "ab1 2c 1 2 <nil>"
    );
    assert_eq!(r(r#"{{println "a" 1}}"#), "a 1\n");
    assert_eq!(r("{{println .Name}}X"), "/web\nX");
    assert_eq!(
        r(r#"{{html "<a>"}} {{js "a'b"}} {{urlquery "a b&c"}} {{js "a<b\n"}}"#),
        r"&lt;a&gt; a\'b a+b%26c a\u003Cb\u000A"
    );
}

#[test]
fn docker_functions() {
    assert_eq!(
        r("{{json .Config.Labels}} {{json .Name}} {{json .Config.Env}}"),
        r#"{"a.b":"c","tier":"front"} "/web" ["X=1"]"#
    );
    assert_eq!(
        r(r#"{{json "<a>&"}} {{json .Config.Labels.nope}}"#),
        r#""<a>&" null"#
    );
    assert_eq!(
        r(
            r#"{{join .Config.Cmd ","}} {{split "a,b,c" ","}} {{lower "AbC"}} {{upper "abc"}} {{title "hello world"}}"#
        ),
        "sleep,100000 [a b c] abc ABC Hello World"
    );
    assert_eq!(
        r(r#"{{title "hello_world foo-bar"}}"#),
        "Hello_world Foo-Bar"
    );
    assert_eq!(
        r(r#"{{pad "x" 2 3}}| {{truncate "abcdef" 3}} {{truncate "ab" 5}} {{truncate .Name 2}}"#),
        "  x   | abc ab /w"
    );
    assert_eq!(
        r(r#"{{split .Name "e"}} {{join (split "a-b" "-") "+"}}"#),
        "[/w b] a+b"
    );
}

#[test]
fn control_structures() {
    assert_eq!(
        r("{{range $i, $v := .Config.Env}}{{$i}}={{$v}};{{end}}"),
        "0=X=1;"
    );
    assert_eq!(
        r("{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}},{{end}}"),
        "a.b:c,tier:front,"
    );
    assert_eq!(r("{{range .Config.Labels}}{{.}} {{end}}"), "c front ");
    assert_eq!(r("{{range .Config.Volumes}}x{{else}}empty{{end}}"), "empty");
    assert_eq!(
        r("{{range .Config.Entrypoint}}x{{else}}none{{end}}"),
        "none"
    );
    assert_eq!(
        r("{{range $v := .Config.Cmd}}{{$v}}/{{$.Name}} {{end}}"),
        "sleep//web 100000//web "
    );
    assert_eq!(
        r("{{range .Mounts}}{{.Source}}:{{.Destination}} {{.RW}}{{end}}"),
        "/tmp/w:/mnt true"
    );
    assert_eq!(
        r("{{range $i, $e := .Config.Cmd}}{{if $i}},{{end}}{{$e}}{{end}}"),
        "sleep,100000"
    );
    assert_eq!(r("{{range 3}}{{.}}{{end}}"), "012");
    assert_eq!(
        r(r#"{{range .Config.Env}}{{if eq . "X=1"}}{{break}}{{end}}{{.}}{{end}}done"#),
        "done"
    );
    // Not from docker (its data has one Env entry): Go's continue and break.
    assert_eq!(
        r(r#"{{range .Config.Cmd}}{{if eq . "sleep"}}{{continue}}{{end}}[{{.}}]{{end}}"#),
        "[100000]"
    );
    assert_eq!(r("{{range .Config.Cmd}}{{.}}{{break}}{{end}}"), "sleep");
    assert_eq!(r(r#"{{$x := .Name}}{{$x}} {{$x = "y"}}{{$x}}"#), "/web y");
    assert_eq!(
        r("{{ $a := 1 }}{{ if true }}{{ $a = 2 }}{{ end }}{{ $a }}"),
        "2"
    );
    assert_eq!(
        r("{{with .Config}}{{.Image}}{{end}} {{with .Config.Volumes}}v{{else}}none{{end}}"),
        "busybox none"
    );
    assert_eq!(r("{{with $x := .Name}}{{$x}}{{end}}"), "/web");
    assert_eq!(r("{{with .State.Health}}h{{else}}noh{{end}}"), "noh");
    assert_eq!(
        r(
            r#"{{if eq .State.Status "exited"}}E{{else if eq .State.Status "running"}}R{{else}}O{{end}}"#
        ),
        "R"
    );
    assert_eq!(
        r(r#"{{with .Config.Volumes}}v{{else with .Config.Image}}{{.}}{{end}}"#),
        "busybox"
    );
    assert_eq!(r("{{if .Config.Labels}}has{{end}}"), "has");
}

#[test]
fn trimming_and_comments() {
    assert_eq!(r(r#"a {{- "b" -}} c"#), "abc");
    assert_eq!(r("a {{- /* comment */ -}} c"), "ac");
    assert_eq!(r("{{/* a }} comment */}}x"), "x");
    assert_eq!(r("{{.Name -}}  \n x"), "/webx");
    assert_eq!(
        r("{{range .Config.Cmd -}}\n  {{.}}\n{{- end}}"),
        "sleep100000"
    );
}

#[test]
fn label_method_of_list_rows() {
    // docker ps --format '{{.Label "tier"}}'.
    let row = json!({"Names": "web", "Labels": "a=1,tier=front"});
    let t = Template::parse(r#"{{.Label "tier"}}|{{.Label "x"}}"#).unwrap();
    assert_eq!(t.render(&row).unwrap(), "front|");
}

#[test]
fn execution_errors() {
    assert_eq!(
        exec_err("{{.Nope}}"),
        r#"template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope""#
    );
    assert_eq!(
        exec_err("{{index .Config.Env 5}}"),
        r#"template: :1:2: executing "" at <index .Config.Env 5>: error calling index: index out of range: 5"#
    );
    assert_eq!(
        exec_err("{{eq 1 1.0}}"),
        r#"template: :1:2: executing "" at <eq 1 1.0>: error calling eq: incompatible types for comparison"#
    );
    assert_eq!(
        exec_err("{{lt true false}}"),
        r#"template: :1:2: executing "" at <lt true false>: error calling lt: invalid type for comparison"#
    );
    assert_eq!(
        exec_err("{{eq .Config.Env .Config.Env}}"),
        r#"template: :1:2: executing "" at <eq .Config.Env .Config.Env>: error calling eq: non-comparable type [X=1]: []interface {}"#
    );
    assert_eq!(
        exec_err("{{slice .Name 5 2}}"),
        r#"template: :1:2: executing "" at <slice .Name 5 2>: error calling slice: index out of range: 5"#
    );
    assert_eq!(
        exec_err("{{nil}}"),
        r#"template: :1:2: executing "" at <nil>: nil is not a command"#
    );
    assert_eq!(
        exec_err("{{range .Name}}{{.}}{{end}}"),
        r#"template: :1:8: executing "" at <.Name>: range can't iterate over /web"#
    );
    assert_eq!(
        exec_err("{{.State.Health.Status}}"),
        r#"template: :1:8: executing "" at <.State.Health.Status>: map has no entry for key "Health""#
    );
    assert_eq!(
        exec_err("{{range $i, $v := 3}}{{$i}}{{end}}"),
        r#"template: :1:18: executing "" at <3>: can't use 3 to iterate over more than one variable"#
    );
    // docker points at the argument (:1:7 <.Config.Labels>), berth at the call.
    assert!(exec_err(r#"{{join .Config.Labels ","}}"#)
        .ends_with("wrong type for value; expected []string; got map[string]interface {}"));
    assert_eq!(
        exec_err("{{.Name 1}}"),
        r#"template: :1:2: executing "" at <.Name>: Name is not a method but has arguments"#
    );
    assert_eq!(
        exec_err("{{. 1}}"),
        r#"template: :1:2: executing "" at <.>: can't give argument to non-function ."#
    );
    assert_eq!(
        exec_err(r#"{{"x" 1}}"#),
        r#"template: :1:2: executing "" at <"x">: can't give argument to non-function "x""#
    );
    // Go names the field's type: docker's raw fallback says interface {}.
    assert!(exec_err("{{.Name.Foo}}").ends_with("can't evaluate field Foo in type string"));
    // What was written before the failure is kept with the error.
    let t = Template::parse("a{{.Name}}{{.Nope}}").unwrap();
    match t.render(&data()) {
        Err(TemplateError::Exec {
            partial, line, col, ..
        }) => {
            assert_eq!((partial.as_str(), line, col), ("a/web", 1, 12));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn parse_errors() {
    let p = |t: &str, msg: &str| {
        assert_eq!(
            parse_err(t),
            format!("template parsing error: template: :1: {msg}"),
            "{t}"
        );
    };
    p("{{if}}x{{end}}", "missing value for if");
    p("{{-.Name}}", r#"bad number syntax: "-.Name""#);
    p("{{continue}}", "{{continue}} outside {{range}}");
    p("{{break}}", "{{break}} outside {{range}}");
    p("{{end}}", "unexpected {{end}}");
    p("{{else}}", "unexpected {{else}}");
    p("{{if .Name}}", "unexpected EOF");
    p("{{$undefined}}", r#"undefined variable "$undefined""#);
    p(
        "{{if true}}{{$b := 1}}{{end}}{{$b}}",
        r#"undefined variable "$b""#,
    );
    p("{{table .Name}}", r#"function "table" not defined"#);
    p(
        r#"{{.Name | "x"}}"#,
        "non executable command in pipeline stage 2",
    );
    assert_eq!(
        parse_err("a\n{{.A"),
        "template parsing error: template: :2: unclosed action"
    );
}

/// Malformed templates of every shape give errors, never panics.
#[test]
fn malformed_templates_do_not_panic() {
    let bad = [
        "{{",
        "}}{{",
        "{{.",
        "{{..}}",
        "{{.A.}}",
        "{{(}}",
        "{{)}}",
        "{{(.A}}",
        "{{.A)}}",
        "{{((1)}}",
        "{{\"}}",
        "{{`}}",
        "{{'}}",
        "{{'ab'}}",
        "{{'\\x'}}",
        "{{\"\\u12\"}}",
        "{{$}}{{$x :=}}",
        "{{$x := }}",
        "{{:= 1}}",
        "{{= 1}}",
        "{{$a, $b := 1}}",
        "{{range $a, $b, $c := .}}{{end}}",
        "{{|}}",
        "{{.A |}}",
        "{{| .A}}",
        "{{printf}}",
        "{{index}}",
        "{{slice}}",
        "{{len}}",
        "{{len 1 2}}",
        "{{eq}}",
        "{{eq 1}}",
        "{{and}}",
        "{{or}}",
        "{{not}}",
        "{{if}}{{else}}{{else}}{{end}}",
        "{{range .A}}{{else if .B}}{{end}}",
        "{{with .A}}{{else if .B}}{{end}}",
        "{{/* x }}",
        "{{/*}}",
        "{{- }}",
        "{{ -}}",
        "{{-}}",
        "{{ - }}",
        "{{0x}}",
        "{{1e}}",
        "{{--1}}",
        "{{+}}",
        "{{.A.B.C.D}}",
        "{{index 1 2}}",
        "{{slice 1 2}}",
        "{{slice .Name -1}}",
        "{{slice .Config.Cmd 1 2 3 4}}",
        "{{slice .Name 1 2 3}}",
        "{{printf 1}}",
        "{{printf \"%\"}}",
        "{{printf \"%-*.*d\" 1}}",
        "{{printf \"%c\" -1}}",
        "{{printf \"%q\" 1114112}}",
        "{{1 | 2}}",
        "{{\u{e9}}}",
        "{{.\u{e9}}}",
        "{{pad \"x\" -1 -1}}",
        "{{truncate \"x\" -1}}",
        "{{range -1}}{{.}}{{end}}",
        "{{index .Name 99}}",
        "{{call .Name}}",
        "{{template \"x\"}}",
        "{{define \"x\"}}{{end}}",
        "{{break 1}}",
        "{{end 1}}",
        "{{range .Config.Cmd}}{{continue 2}}{{end}}",
        "{{else foo}}",
        "{{if 1}}{{else foo}}{{end}}",
        "\u{0}{{\u{0}}}",
        "{{9223372036854775808}}",
        "{{-9223372036854775809}}",
        "{{1e400}}",
    ];
    for t in bad {
        // Either outcome is fine; what matters is a message and no panic.
        if let Ok(tmpl) = Template::parse(t) {
            let _ = tmpl.render(&data());
        }
    }
}

#[test]
fn unknown_top_level_fields_fail_inside_blocks_too() {
    assert!(exec_err("{{if true}}{{.Nope}}{{end}}").contains("map has no entry for key \"Nope\""));
    assert!(exec_err("{{range .Config.Cmd}}{{$.Nope}}{{end}}").contains("map has no entry"));
    // Inside `with`, dot is another object: a missing key is `<no value>`.
    assert_eq!(r("{{with .Config}}{{.Nope}}{{end}}"), "<no value>");
}
