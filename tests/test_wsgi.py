"""PyjionWsgiMiddleware end to end: a Flask app served by werkzeug's WSGI server on 127.0.0.1, real
HTTP requests, the responses compared with the JIT on and off."""
import json
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request

SERVER = textwrap.dedent("""
    import sys
    import flask
    from werkzeug.serving import make_server

    app = flask.Flask("shop")
    PRICES = {"apple": 0.5, "pear": 0.75, "fig": 2.0}

    @app.route("/price/<item>")
    def price(item):
        if item not in PRICES:
            flask.abort(404)
        return {"item": item, "price": PRICES[item]}

    @app.route("/basket", methods=["POST"])
    def basket():
        order = flask.request.get_json()
        lines = [(name, qty, PRICES[name] * qty) for name, qty in sorted(order.items())]
        total = sum(cost for _, _, cost in lines)
        return {"lines": lines, "total": round(total, 2), "discount": total > 10}

    @app.route("/primes/<int:n>")
    def primes(n):
        found = [k for k in range(2, n) if all(k % d for d in range(2, int(k ** 0.5) + 1))]
        return flask.Response(",".join(map(str, found)), mimetype="text/plain")

    @app.route("/boom")
    def boom():
        return 1 / 0

    if sys.argv[1] == "jit":
        import pyjion
        from pyjion.wsgi import PyjionWsgiMiddleware
        pyjion.config(threshold=2, background=False)
        app.wsgi_app = PyjionWsgiMiddleware(app.wsgi_app)

        @app.route("/jit")
        def jit_report():
            return {name: pyjion.info(f).compiled for name, f in (("price", price), ("basket", basket),
                                                                   ("primes", primes))}

    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.port, flush=True)
    server.serve_forever()
""")

REQUESTS = ([("GET", "/price/apple", None), ("GET", "/price/fig", None), ("GET", "/price/kiwi", None),
             ("POST", "/basket", {"apple": 4, "fig": 5}), ("POST", "/basket", {"pear": 1}),
             ("GET", "/primes/300", None), ("GET", "/boom", None)] * 4)


def fetch(port, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read()


def serve_and_fetch(tmp_path, mode):
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    server = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        port = int(server.stdout.readline())
        responses = [fetch(port, *request) for request in REQUESTS]
        report = json.loads(fetch(port, "GET", "/jit")[2]) if mode == "jit" else None
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=60)
    return responses, report, errors


def test_flask_app_behind_the_middleware(tmp_path):
    plain, _, plain_log = serve_and_fetch(tmp_path, "plain")
    jitted, compiled, jit_log = serve_and_fetch(tmp_path, "jit")
    assert jitted == plain
    assert {status for status, _, _ in plain} == {200, 404, 500}
    assert compiled == {"price": True, "basket": True, "primes": True}
    assert "ZeroDivisionError" in jit_log and "Traceback" in jit_log  # the 500's traceback, as logged plainly
    assert plain_log.count("ZeroDivisionError") == jit_log.count("ZeroDivisionError")
