use super::block_items::block_items;
use super::documents::{rebase_lines, split_documents};
use super::format::probe_type_meta;
use super::limits::excessive_flow_nesting;
use super::*;

fn read(text: &str) -> ReadOutcome {
    read_str(text, Path::new("test.yaml"), &ReadOptions::default())
        .expect("non-strict reading never fails")
}

#[test]
fn splits_documents_with_their_start_lines() {
    let text = "a: 1\n---\nb: 2\n--- # c\nc: 3\n...\nd: 4\n";
    let docs = split_documents(text);
    let starts: Vec<usize> = docs.iter().map(|(line, _)| *line).collect();
    assert_eq!(starts, vec![1, 2, 4, 7]);
    assert_eq!(docs[0].1, "a: 1\n");
    assert_eq!(docs[3].1, "d: 4\n");
    // `----` and `---x` are not markers.
    assert_eq!(split_documents("a: |\n  x\n----\n").len(), 1);
}

#[test]
fn probes_kind_and_api_version_from_top_level_lines() {
    let meta = probe_type_meta("apiVersion: apps/v1\nkind: \"Deployment\" # c\nspec: {}\n")
        .expect("kind found");
    assert_eq!(meta.kind.as_deref(), Some("Deployment"));
    assert_eq!(meta.api_version.as_deref(), Some("apps/v1"));
    assert!(probe_type_meta("{\"kind\": \"Service\"}").is_none());
    assert!(probe_type_meta("metadata:\n  kind: x\n").is_none());
}

#[test]
fn flow_nesting_prescan_counts_only_real_flow_collections() {
    let deep = format!("a: {}", "[".repeat(200));
    assert_eq!(excessive_flow_nesting(&deep, 128), Some(1));
    let nested_ok = format!("a: {}x{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(excessive_flow_nesting(&nested_ok, 128), None);
    // Brackets in plain, quoted and block scalars, and comments, are text.
    let texts = format!(
        "a: x{b}\nb: '{b}'\nc: \"{b}\"\nd: |\n  {b}\n  {b}\ne: 1 # {b}\n",
        b = "[".repeat(200)
    );
    assert_eq!(excessive_flow_nesting(&texts, 128), None);
    let late = format!("a: 1\nb:\n  - {}\n", "{".repeat(129));
    assert_eq!(excessive_flow_nesting(&late, 128), Some(3));
}

#[test]
fn rebases_parser_lines() {
    assert_eq!(
        rebase_lines(
            "bad at line 3 column 2, while parsing at line 1 column 1",
            10
        ),
        "bad at line 12 column 2, while parsing at line 10 column 1"
    );
}

#[test]
fn bad_document_is_reported_with_its_file_line_and_the_rest_is_read() {
    let text = "\
apiVersion: v1
kind: Service
metadata: {name: a}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  replicas: three
---
apiVersion: v1
kind: Service
metadata: {name: b}
";
    let outcome = read(text);
    let names: Vec<&str> = outcome
        .snapshot
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, vec!["a", "b"]);
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    let warning = &outcome.warnings[0];
    assert_eq!(warning.line, 10, "{warning}");
    assert!(warning.message.contains("Deployment"), "{warning}");
    assert!(
        warning.to_string().starts_with("test.yaml:10: "),
        "{warning}"
    );
}

#[test]
fn strict_makes_the_first_warning_fatal() {
    let options = ReadOptions {
        strict: true,
        ..ReadOptions::default()
    };
    let err = read_str(
        "kind: Service\nmetadata: [\n",
        Path::new("x.yaml"),
        &options,
    )
    .expect_err("strict fails");
    assert!(
        matches!(err, SnapshotError::Strict(ref w) if w.line >= 1),
        "{err}"
    );
    assert!(err.to_string().contains("x.yaml"), "{err}");
}

#[test]
fn namespaces_default_and_can_be_overridden() {
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n\
                apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: shop}\n";
    let outcome = read(text);
    let ids: Vec<(&str, &str)> = outcome
        .snapshot
        .services
        .iter()
        .map(|s| (s.namespace.as_str(), s.name.as_str()))
        .collect();
    assert_eq!(ids, vec![("default", "a"), ("shop", "b")]);
    let options = ReadOptions {
        default_namespace: "team".to_owned(),
        ..ReadOptions::default()
    };
    let outcome = read_str(text, Path::new("t.yaml"), &options).expect("reads");
    assert_eq!(outcome.snapshot.services[1].namespace, "team");
}

#[test]
fn lists_json_and_unknown_kinds() {
    let list = "apiVersion: v1\nkind: List\nitems:\n\
                - {apiVersion: v1, kind: Service, metadata: {name: a}}\n\
                - {apiVersion: v1, kind: ServiceAccount, metadata: {name: sa}}\n\
                - {apiVersion: v1, kind: Secret, metadata: {name: s}, data: {k: dg==}}\n";
    let outcome = read(list);
    assert_eq!(outcome.snapshot.services.len(), 1);
    assert_eq!(outcome.snapshot.skipped.get("ServiceAccount"), Some(&1));
    assert_eq!(outcome.snapshot.skipped.get("Secret"), Some(&1));
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);

    let json = r#"{"apiVersion":"v1","kind":"ConfigMapList","items":[
        {"metadata":{"name":"cm","namespace":"x"},"data":{"A":"b:1"}}]}"#;
    let outcome = read_str(json, Path::new("l.json"), &ReadOptions::default()).expect("reads");
    assert_eq!(outcome.snapshot.config_maps.len(), 1);
    assert_eq!(outcome.snapshot.config_maps[0].namespace, "x");
}

#[test]
fn older_api_versions_are_read_with_a_warning() {
    let text = "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\n\
                metadata: {name: p}\nspec: {minAvailable: 1, selector: {matchLabels: {a: b}}}\n";
    let outcome = read(text);
    assert_eq!(outcome.snapshot.pdbs.len(), 1);
    assert_eq!(outcome.warnings.len(), 1);
    assert!(outcome.warnings[0].message.contains("policy/v1beta1"));
}

#[test]
fn controlled_pods_are_skipped_and_bare_pods_kept() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: owned
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: rs, uid: u, controller: true}]
spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: bare}
spec: {containers: [{name: c, image: i}]}
";
    let outcome = read(text);
    let names: Vec<&str> = outcome
        .snapshot
        .workloads
        .iter()
        .map(|w| w.name.as_str())
        .collect();
    assert_eq!(names, vec!["bare"]);
    assert_eq!(
        outcome.snapshot.skipped.get("Pod (owned by a controller)"),
        Some(&1)
    );
}

#[test]
fn empty_documents_and_comments_are_skipped() {
    let outcome = read("---\n# only a comment\n---\n\n---\n");
    assert_eq!(outcome.documents, 0);
    assert!(outcome.warnings.is_empty());
}

#[test]
fn documents_without_a_kind_are_warnings() {
    let outcome = read("apiVersion: v1\nmetadata: {name: a}\n---\nkind: ''\n---\n- a list\n");
    let lines: Vec<usize> = outcome.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, vec![1, 3, 6], "{:?}", outcome.warnings);
    assert!(outcome.snapshot.skipped.is_empty());
}

fn service(name: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"{name}","namespace":"n"}},"spec":{{"ports":[{{"port":80}}]}}}}"#
    )
}

#[test]
fn json_list_is_read_item_by_item_and_a_bad_item_loses_only_itself() {
    let text = format!(
        r#"{{"kind":"List","metadata":{{}},"items":[{},{{"apiVersion":"v1","kind":"Service","spec":"oops"}},{}]}}"#,
        service("a"),
        service("b")
    );
    let outcome = read_str(&text, Path::new("l.json"), &ReadOptions::default()).expect("reads");
    assert_eq!(outcome.snapshot.services.len(), 2);
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    assert!(
        outcome.warnings[0]
            .message
            .starts_with("item 1 of the List (Service)"),
        "{}",
        outcome.warnings[0].message
    );
}

#[test]
fn json_list_items_without_a_kind_or_of_an_older_version_are_reported_and_the_rest_kept() {
    // Items stay text until their kind is known: a number, an object without a kind and an
    // extensions/v1beta1 Ingress each take the path a value tree took before.
    let ingress = r#"{"apiVersion":"extensions/v1beta1","kind":"Ingress","metadata":{"name":"old","namespace":"n"},"spec":{}}"#;
    let text = format!(
        r#"{{"kind":"List","items":[42,{{"metadata":{{"name":"x"}}}},{ingress},{}]}}"#,
        service("a")
    );
    let outcome = read_str(&text, Path::new("l.json"), &ReadOptions::default()).expect("reads");
    assert_eq!(outcome.snapshot.services.len(), 1);
    assert_eq!(outcome.snapshot.ingresses.len(), 1);
    let messages: Vec<&str> = outcome
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[0], "item 0 of the List has no `kind`");
    assert_eq!(messages[1], "item 1 of the List has no `kind`");
    assert!(
        messages[2].starts_with("Ingress extensions/v1beta1 was read as networking.k8s.io/v1"),
        "{}",
        messages[2]
    );
}

#[test]
fn truncated_list_is_one_warning_with_its_cause() {
    let text = format!(
        r#"{{"kind":"List","items":[{},{},{{"kind":"Serv"#,
        service("a"),
        service("b")
    );
    let outcome = read_str(&text, Path::new("l.json"), &ReadOptions::default()).expect("reads");
    // Not valid JSON: its kind cannot be trusted, so nothing of it is read.
    assert_eq!(outcome.snapshot.services.len(), 0);
    assert_eq!(outcome.warnings.len(), 1);
    assert!(
        outcome.warnings[0].message.contains("EOF"),
        "{}",
        outcome.warnings[0].message
    );
    let strict = ReadOptions {
        strict: true,
        ..ReadOptions::default()
    };
    assert!(read_str(&text, Path::new("l.json"), &strict).is_err());
}

#[test]
fn yaml_list_with_null_items_is_empty() {
    let outcome = read("apiVersion: v1\nkind: List\nitems:\n");
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert_eq!(outcome.documents, 1);
}

#[test]
fn block_items_are_found_with_their_lines_and_other_layouts_are_left_to_the_parser() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- a: 1\n  b: 2\n# between\n- x\nmetadata: {}\n";
    let items = block_items(text).expect("block style");
    let found: Vec<(usize, &str)> = items
        .iter()
        .map(|i| (i.line, &text[i.range.clone()]))
        .collect();
    assert_eq!(
        found,
        vec![(4, "- a: 1\n  b: 2\n# between\n"), (7, "- x\n")]
    );

    let indented = "items:\n  - a: 1\n    b: 2\n  -\n    c: 3\nkind: List\n";
    let lines: Vec<usize> = block_items(indented)
        .expect("indented")
        .iter()
        .map(|i| i.line)
        .collect();
    assert_eq!(lines, vec![2, 4]);

    for other in [
        "kind: List\nitems: [a, b]\n",
        "kind: List\nitems:\n- &a x\n- *a\n",
        "kind: List\nitems:\n  a: b\n",
        "kind: List\nitems:\n- a\nitems:\n- b\n",
        "kind: List\nmetadata: {}\n",
    ] {
        assert!(block_items(other).is_none(), "{other}");
    }
}

/// Appends `object` to a block-style YAML List as its next item.
fn push_block_item(list: &mut String, object: &str) {
    for (at, line) in object.lines().enumerate() {
        list.push_str(if at == 0 { "- " } else { "  " });
        list.push_str(line);
        list.push('\n');
    }
}

#[test]
fn yaml_list_read_in_parts_equals_the_same_objects_as_documents() {
    // Enough items for several parts.
    let names: Vec<String> = (0..4_000).map(|i| format!("svc-{i}")).collect();
    let mut list = String::from("apiVersion: v1\nkind: List\nitems:\n");
    let mut documents = String::new();
    for name in &names {
        let object = format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: n\nspec:\n  ports:\n  - port: 80\n"
        );
        push_block_item(&mut list, &object);
        documents.push_str("---\n");
        documents.push_str(&object);
    }
    assert!(block_items(&list).is_some_and(|items| items.len() == names.len()));
    let from_list = read(&list);
    let from_documents = read(&documents);
    assert!(from_list.warnings.is_empty(), "{:?}", from_list.warnings);
    assert_eq!(from_list.snapshot.services.len(), names.len());
    assert_eq!(from_list.snapshot, from_documents.snapshot);
    assert_eq!(
        from_list.documents,
        names.len() + 1,
        "the List and its items"
    );
}

#[test]
fn yaml_list_item_that_cannot_be_parsed_loses_only_itself() {
    let text = "apiVersion: v1\nkind: List\nitems:\n\
                - {apiVersion: v1, kind: Service, metadata: {name: a}}\n\
                - apiVersion: v1\n  kind: Service\n  metadata: {name: [broken}\n\
                - {apiVersion: v1, kind: Service, metadata: {name: b}}\n";
    let outcome = read(text);
    let names: Vec<&str> = outcome
        .snapshot
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, vec!["a", "b"]);
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    let warning = &outcome.warnings[0];
    assert!(
        warning.message.starts_with("item 1 of the List: "),
        "{warning}"
    );
    assert!((5..=7).contains(&warning.line), "{warning}");

    let strict = ReadOptions {
        strict: true,
        ..ReadOptions::default()
    };
    assert!(read_str(text, Path::new("t.yaml"), &strict).is_err());
}

#[test]
fn large_lists_read_on_all_cores_give_what_reading_one_by_one_gives() {
    // Several parts of items, with two bad items in different parts and one Service defined twice
    // (the later definition wins), as JSON and as block YAML; the same objects as separate
    // documents are read one by one.
    let count = 8_000;
    let bad = [700, 2_100];
    let port = |i: usize| if i == count - 1 { 81 } else { 80 };
    let name = |i: usize| {
        if i == count - 1 {
            "svc-10".to_owned()
        } else {
            format!("svc-{i}")
        }
    };
    let mut json_items = Vec::new();
    let mut yaml = String::from("apiVersion: v1\nkind: List\nitems:\n");
    let mut documents = String::new();
    for i in 0..count {
        let (name, port) = (name(i), port(i));
        if bad.contains(&i) {
            json_items.push(r#"{"apiVersion":"v1","kind":"Service","spec":"oops"}"#.to_owned());
            yaml.push_str("- apiVersion: v1\n  kind: Service\n  spec: oops\n");
            continue;
        }
        json_items.push(format!(
            r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"{name}","namespace":"n"}},"spec":{{"ports":[{{"port":{port}}}]}}}}"#
        ));
        let object = format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: n\nspec:\n  ports:\n  - port: {port}\n"
        );
        push_block_item(&mut yaml, &object);
        documents.push_str("---\n");
        documents.push_str(&object);
    }
    let json = format!(r#"{{"kind":"List","items":[{}]}}"#, json_items.join(","));
    assert!(json.len() > 2 * list_parts::PART_BYTES && yaml.len() > 2 * list_parts::PART_BYTES);
    let one_by_one = read(&documents);
    assert_eq!(one_by_one.snapshot.services.len(), count - 3);
    let svc_10 = |outcome: &ReadOutcome| {
        let service = outcome
            .snapshot
            .services
            .iter()
            .find(|s| s.name == "svc-10");
        service.map(|s| s.ports.iter().map(|p| p.port).collect::<Vec<_>>())
    };
    assert_eq!(svc_10(&one_by_one), Some(vec![81]), "the later definition");
    for (text, origin) in [(&json, "l.json"), (&yaml, "l.yaml")] {
        let outcome = read_str(text, Path::new(origin), &ReadOptions::default()).expect("reads");
        assert_eq!(outcome.snapshot, one_by_one.snapshot, "{origin}");
        assert_eq!(
            outcome.documents,
            count + 1,
            "{origin}: the List and its items"
        );
        let messages: Vec<&str> = outcome
            .warnings
            .iter()
            .map(|w| w.message.as_str())
            .collect();
        assert_eq!(messages.len(), 2, "{origin}: {messages:?}");
        assert!(
            messages[0].starts_with("item 700 of the List"),
            "{origin}: {messages:?}"
        );
        assert!(
            messages[1].starts_with("item 2100 of the List"),
            "{origin}: {messages:?}"
        );
        let strict = ReadOptions {
            strict: true,
            ..ReadOptions::default()
        };
        match read_str(text, Path::new(origin), &strict) {
            Err(SnapshotError::Strict(warning)) => assert!(
                warning.message.starts_with("item 700 of the List"),
                "{origin}: the first bad item in the file's order, not {warning}"
            ),
            other => panic!("{origin}: strict reading must stop at item 700, got {other:?}"),
        }
    }
}
