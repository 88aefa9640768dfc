import os, tempfile, json
d = tempfile.mkdtemp()
os.environ.update(MARSAD_ENV="test", MARSAD_VAR_DIR=d+"/var", MARSAD_DATABASE_URL=f"sqlite:///{d}/m.db", MARSAD_STORAGE="local", MARSAD_STORAGE_DIR=d+"/obj", MARSAD_COOKIE_SECURE="0", MARSAD_LOCAL_ACCOUNTS="1")
from services import db, accounts
from services.policy import default_policies
from services.identity import api_tokens
eng = db.make_engine(os.environ["MARSAD_DATABASE_URL"]); db.upgrade(eng)
with db.session(eng) as s:
    accounts.seed_demo(s, default_policies())
    tok, _ = api_tokens.issue(s, "mi-paf.submitter")
from portal import create_app
app = create_app({"TESTING": True, "ENGINE": eng})
c = app.test_client()
for url in ["/api/v1/openapi.json", "/api/v1/datasets", "/api/v1/nothing"]:
    r = c.get(url); print(url, r.status_code, r.get_data(as_text=True)[:150], r.headers.get("Set-Cookie"))
h = {"Authorization": "Bearer " + tok}
for url in ["/api/v1/datasets", "/api/v1/datasets/border_crossings?lang=fr", "/api/v1/submissions", "/api/v1/submissions/1", "/api/v1/indicators"]:
    r = c.get(url, headers=h); print(url, r.status_code, r.get_data(as_text=True)[:200])
r = c.get("/api/v1/submissions/1/approve", headers=h); print(r.status_code, r.get_json(), r.headers.get("Allow"))
from tests.portal_fixtures import border_crossings_csv, crossing
import io
r = c.post("/api/v1/submissions", headers=h, data={"dataset": "border_crossings", "file": (io.BytesIO(border_crossings_csv([crossing(1), crossing(2)])), "x.csv")}, content_type="multipart/form-data")
print(r.status_code, json.dumps(r.get_json())[:400], r.headers.get("Location"))
r = c.post("/api/v1/submissions/1/approve", headers=h); print(r.status_code, r.get_json())
