"""URI-aware policy through a real Envoy: paths as the upstream sees them, hosts, methods, preflights."""
import pytest

from harness.tokens import dat_claims


@pytest.mark.parametrize("raw,upstream_path", [
    ("/api/v2//dags", "/api/v2/dags"),
    ("/api/v2/./dags/../dags", "/api/v2/dags"),
    ("/api/v2/%64ags", "/api/v2/dags"),
    ("/api/v2/dags?x=/../config", "/api/v2/dags?x=/../config"),
])
def test_the_upstream_receives_the_normalized_path_the_rule_matched(envoy, upstream, keys, raw, upstream_path):
    r = envoy.get(raw, keys.sign(dat_claims(role="ORGANIZATION_VIEWER"), "HS256"))
    assert r.status == 200, r.body
    (seen,) = upstream.take()
    assert seen.path == upstream_path


@pytest.mark.parametrize("raw", [
    "/api/v2/monitor/health/../../config",
    "/api/v2/monitor/health/%2e%2e/%2e%2e/config",
    "/api/v2/monitor//health/.././../config",
])
def test_dot_segments_cannot_turn_a_public_path_into_a_protected_one(envoy, upstream, raw):
    r = envoy.get(raw)
    assert r.status == 401
    assert upstream.take() == []


@pytest.mark.parametrize("raw", ["/api/v2/monitor/health%2F..%2Fconfig", "/api/v2/x%5cy", "/api/v2/%00", "/api/v2/%zz"])
def test_ambiguous_encodings_get_400_and_reach_nothing(envoy, upstream, raw):
    r = envoy.get(raw)
    assert r.status == 400
    assert r.json() == {"error": "bad_request"}
    assert upstream.take() == []


def test_query_strings_never_change_which_rule_applies(envoy, upstream):
    assert envoy.get("/api/v2/monitor/health?path=/api/v2/config").status == 200
    assert envoy.get("/api/v2/config?/api/v2/monitor/health").status == 401
    assert [r.path for r in upstream.take()] == ["/api/v2/monitor/health?path=/api/v2/config"]


def test_host_and_method_take_part_in_matching(envoy, upstream):
    assert envoy.get("/logo.png", host="static.gatehouse.test").status == 200
    assert envoy.get("/logo.png", host="STATIC.gatehouse.test").status == 200
    # With a port the authority is another virtual host to Envoy (no strip_any_host_port), so to the routes too.
    assert envoy.get("/logo.png", host="static.gatehouse.test:443").status == 403
    assert envoy.request("POST", "/logo.png", host="static.gatehouse.test", body=b"x").status == 403
    assert envoy.get("/logo.png").status == 403, "same path, other host: no route, denied"
    assert [r.path for r in upstream.take()] == ["/logo.png", "/logo.png"]


def test_cors_preflights_pass_to_the_upstream_without_credentials(envoy, upstream):
    r = envoy.request("OPTIONS", "/api/v2/dags", {"origin": "https://ui.example", "access-control-request-method": "GET"})
    assert r.status == 200
    (seen,) = upstream.take()
    assert seen.method == "OPTIONS"


def test_session_routes_answer_401_in_text_until_browser_login_exists(envoy, upstream):
    r = envoy.get("/ui/dags")
    assert r.status == 401
    assert r.header("content-type").startswith("text/plain")
    assert upstream.take() == []


def test_head_requests_get_the_status_without_a_body(envoy, upstream):
    r = envoy.request("HEAD", "/api/v2/dags")
    assert r.status == 401
    assert r.body == b""


def test_a_header_value_that_is_not_utf8_gets_400_and_the_vm_keeps_serving(envoy, upstream):
    # obs-text bytes are legal HTTP; the SDK's helpers would panic on them and trap the VM.
    r = envoy.get("/api/v2/dags", headers=[("authorization", "Bearer \xff\xfe".encode("latin-1").decode("latin-1"))])
    assert r.status == 400
    r = envoy.get("/api/v2/dags", headers=[("origin", "https://\xe9.example")])
    assert r.status == 400
    assert upstream.take() == []
    assert "wasmcustom.gatehouse.decisions_total.deny.bad_header_encoding: 2" in envoy.admin("/stats?filter=bad_header"), \
        "the filter itself refused them (Envoy passed the bytes through)"
    for _ in range(4):  # both workers
        assert envoy.get("/api/v2/monitor/health").status == 200


def test_servlet_style_dot_segment_parameters_get_400(envoy, upstream):
    assert envoy.get("/api/v2/monitor/health/..;/..;/config").status == 400
    assert upstream.take() == []


def test_public_routes_do_not_forward_unverified_credentials(envoy, upstream):
    r = envoy.get("/api/v2/version", headers={"authorization": "Bearer not-checked-here"})
    assert r.status == 200
    (seen,) = upstream.take()
    assert seen.header("authorization") is None
