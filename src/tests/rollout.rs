use serde_json::{json, Value};

use std::sync::Arc;

use crate::config::rollout::Mode;
use crate::config::Config;
use crate::decision::{Decision, Outcome};
use crate::jwt::Alg;
use crate::rollout::bucket;
use crate::testing::*;

const CANARY: &str = "canary-secret-0123456789";

fn rollout_env(name: &str) -> Option<String> {
    if name == "CANARY" {
        return Some(CANARY.into());
    }
    env(name)
}

fn with_rollout(rollout: Value) -> Arc<Config> {
    let mut v = config_json();
    v["rollout"] = rollout;
    match crate::load_config(v.to_string().as_bytes(), &rollout_env) {
        Ok(c) => Arc::new(c),
        Err(e) => panic!("{e}"),
    }
}

fn run(vm: &mut Vm, path: &str, headers: &[(&str, &str)]) -> Decision {
    vm.request("GET", path, "gatehouse.test", headers)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn in_shadow_mode_requests_pass_untouched_with_the_decision_the_new_path_would_have_made() {
    let cfg = with_rollout(json!({"classes": {"api": {"mode": "shadow"}}}));
    let mut vm = Vm::new(&cfg);
    let Decision::Pass(p) = run(&mut vm, "/api/dags", &[]) else { panic!("not a pass") };
    let predicted = p.shadow.unwrap();
    assert_eq!((predicted.outcome, predicted.status), (Outcome::Deny, 401));
    assert_eq!((p.verdict.class.as_str(), p.verdict.reason.code()), ("api", "missing_credential"));

    let token = sign(&dat(), Alg::ES256);
    let Decision::Pass(p) = run(&mut vm, "/api/dags", &[("authorization", &bearer(&token))]) else {
        panic!("not a pass")
    };
    assert_eq!(p.shadow.unwrap().outcome, Outcome::Allow);
    assert_eq!(p.verdict.subject, None, "subjects stay out of what is logged and counted");
    // Other classes are still enforced.
    assert_eq!(run(&mut vm, "/ui/x", &[]).status(), Some(401));
}

#[test]
fn off_passes_requests_without_evaluating_them() {
    let cfg = with_rollout(json!({"default": {"mode": "off"}}));
    let mut vm = Vm::new(&cfg);
    let token = sign(&dat(), Alg::ES256);
    let Decision::Pass(p) = run(&mut vm, "/api/dags", &[("authorization", &bearer(&token))]) else {
        panic!("not a pass")
    };
    assert_eq!((p.shadow, p.verdict.reason.code()), (None, "rollout_off"));
    assert_eq!(
        vm.engine.caches().tokens.misses + vm.engine.caches().tokens.hits,
        0,
        "the token was not even looked at"
    );
}

#[test]
fn buckets_are_sticky_and_within_two_points_of_the_percentage_over_10000_keys() {
    for percent in [1u64, 10, 25, 50, 90] {
        let inside = (0..10_000).filter(|i| bucket("salt", &format!("user-{i}")) < percent * 100).count();
        let share = inside as f64 / 100.0;
        assert!((share - percent as f64).abs() <= 2.0, "{percent}%: {share}%");
    }
    assert_eq!(bucket("salt", "alice"), bucket("salt", "alice"));
    assert_ne!(
        (0..20).map(|i| bucket("a", &i.to_string())).collect::<Vec<_>>(),
        (0..20).map(|i| bucket("b", &i.to_string())).collect::<Vec<_>>(),
        "another salt reshuffles"
    );
}

#[test]
fn a_percentage_by_subject_enforces_for_the_subjects_in_its_buckets_and_shadows_the_rest() {
    let cfg = with_rollout(json!({"salt": "s1", "classes": {"api": {"mode": "enforce", "percent": 50}}}));
    let mut vm = Vm::new(&cfg);
    let (mut enforced, mut shadowed) = (0, 0);
    for i in 0..200 {
        let mut claims = dat();
        let sub = format!("robot-{i}");
        claims.insert("sub".into(), json!(sub));
        let token = sign(&claims, Alg::HS256);
        let d = run(&mut vm, "/api/dags", &[("authorization", &bearer(&token))]);
        let inside = bucket("s1", &sub) < 5000;
        match d {
            Decision::Allow(_) if inside => enforced += 1,
            Decision::Pass(p) if !inside && p.shadow.is_some() => shadowed += 1,
            other => panic!("{sub} (inside={inside}) got {other:?}"),
        }
    }
    assert!(enforced > 50 && shadowed > 50, "{enforced} enforced, {shadowed} shadowed");
}

#[test]
fn route_flags_beat_class_flags_beat_the_default_and_expired_flags_fall_back_to_enforce() {
    let past = now() - 10;
    let cfg = with_rollout(json!({
        "default": {"mode": "off"},
        "classes": {"api": {"mode": "shadow"}},
        "routes": {"admin": {"mode": "off", "until": past}, "runs": {"mode": "enforce"}}
    }));
    let r = cfg.rollout.as_ref().unwrap();
    let t = now();
    assert_eq!(crate::rollout::flag_for(r, Some("api"), "api", t).mode, Mode::Shadow);
    assert_eq!(crate::rollout::flag_for(r, Some("runs"), "api", t).mode, Mode::Enforce);
    assert_eq!(crate::rollout::flag_for(r, Some("admin"), "api", t).mode, Mode::Shadow, "expired route flag");
    assert_eq!(crate::rollout::flag_for(r, Some("health"), "default", t).mode, Mode::Off);
    let expired = with_rollout(json!({"default": {"mode": "off", "until": past}}));
    let r = expired.rollout.as_ref().unwrap();
    assert_eq!(crate::rollout::flag_for(r, None, "unmatched", t).mode, Mode::Enforce);
}

#[test]
fn allow_and_deny_lists_override_the_percentage() {
    let cfg = with_rollout(json!({
        "classes": {"api": {"mode": "enforce", "percent": 0}},
        "allow": {"subjects": ["robot-1"]},
        "deny": {"deployments": ["other-deployment"]}
    }));
    let mut vm = Vm::new(&cfg);
    let token = sign(&dat(), Alg::ES256);
    assert!(matches!(run(&mut vm, "/api/dags", &[("authorization", &bearer(&token))]), Decision::Allow(_)));
    let mut claims = dat();
    claims.insert("sub".into(), json!("robot-2"));
    let other = sign(&claims, Alg::ES256);
    assert!(matches!(run(&mut vm, "/api/dags", &[("authorization", &bearer(&other))]), Decision::Pass(_)));

    let denied = with_rollout(json!({"allow": {"subjects": ["robot-1"]}, "deny": {"deployments": [DEP]}}));
    assert!(matches!(
        run(&mut Vm::new(&denied), "/api/dags", &[("authorization", &bearer(&token))]),
        Decision::Pass(_)
    ));
}

#[test]
fn the_canary_header_works_only_with_the_secret_and_never_reaches_the_upstream() {
    let cfg = with_rollout(json!({
        "default": {"mode": "shadow"},
        "canary": {"header": "x-gatehouse-canary", "secret_env": "CANARY"}
    }));
    let mut vm = Vm::new(&cfg);
    let token = sign(&dat(), Alg::ES256);
    let auth = bearer(&token);
    let new = format!("new:{CANARY}");
    let Decision::Allow(a) = run(&mut vm, "/api/dags", &[("authorization", &auth), ("x-gatehouse-canary", &new)])
    else {
        panic!("the canary did not force the new path")
    };
    assert!(a.removes("x-gatehouse-canary"));
    assert_eq!(run(&mut vm, "/api/dags", &[("x-gatehouse-canary", &new)]).status(), Some(401));
    let legacy = format!("legacy:{CANARY}");
    let d = run(&mut vm, "/api/dags", &[("x-gatehouse-canary", &legacy)]);
    assert!(matches!(d, Decision::Pass(ref p) if p.shadow.is_none() && p.verdict.reason.code() == "canary_legacy"));
    for wrong in ["new:nope", "new:", "new", &format!("enforce:{CANARY}"), &format!("new:{CANARY}x")] {
        let d = run(&mut vm, "/api/dags", &[("x-gatehouse-canary", wrong)]);
        assert!(matches!(d, Decision::Pass(ref p) if p.shadow.is_some()), "{wrong} was honoured");
    }
}

#[test]
fn rollout_mistakes_are_reported_with_their_paths() {
    let mut v = config_json();
    v["rollout"] = json!({
        "default": {"mode": "enfroce", "percent": 101},
        "classes": {"apl": {"mode": "shadow", "otherwise": "enforce"}},
        "routes": {"nope": {"mode": "off", "percent": 0.001, "until": "tomorrow"}},
        "canary": {"header": "x canary", "secret_env": "SHORT"},
        "percent": 5
    });
    let short = |n: &str| if n == "SHORT" { Some("short".to_owned()) } else { env(n) };
    let errs = crate::load_config(v.to_string().as_bytes(), &short).unwrap_err().to_string();
    for path in [
        "$.rollout.default.mode",
        "$.rollout.default.percent",
        "$.rollout.classes.apl: no route has class",
        "$.rollout.classes.apl.otherwise",
        "$.rollout.routes.nope: no route is named",
        "$.rollout.routes.nope.percent",
        "$.rollout.routes.nope.until",
        "$.rollout.canary.header",
        "$.rollout.canary.secret_env",
        "$.rollout.percent: unknown field",
    ] {
        assert!(errs.contains(path), "{path} missing from:\n{errs}");
    }
}
