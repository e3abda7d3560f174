// Drives an Assent service with the real npm Authy client (authy 1.4.0), unchanged but for its
// base URL. Called by tests/service/authy_npm.rs, one step per invocation; prints JSON.
// Environment: ASSENT_URL (base URL), ASSENT_API_KEY.
"use strict";

const authy = require("authy")(process.env.ASSENT_API_KEY, process.env.ASSENT_URL);

const [step, ...args] = process.argv.slice(2);

function print(value) {
  process.stdout.write(JSON.stringify(value) + "\n");
}

// The client calls back with (error, body): the body on HTTP 200, else the error body.
function answer(err, res) {
  return { ok: !err, body: err ? null : res, error: err || null };
}

switch (step) {
  case "setup":
    authy.register_user("ana@example.com", "555-123-1118", "1", false, (err, user) => {
      if (err) throw new Error("register_user failed: " + JSON.stringify(err));
      // The SDK registration endpoint has no helper in this client; use its own request call,
      // which sends it as every other call (api_key in the query, a form body).
      authy._request("post", "/protected/json/sdk/registrations", { authy_id: user.user.id }, (err, reg) => {
        if (err) throw new Error("registration failed: " + JSON.stringify(err));
        print({ user: user.user.id, enroll_url: reg.enroll_url });
      });
    });
    break;
  case "verify":
    authy.verify(args[0], args[1], (err, res) => print(answer(err, res)));
    break;
  case "verify-force":
    authy.verify(args[0], args[1], true, (err, res) => print(answer(err, res)));
    break;
  case "app":
    // No apps.fetch in this client: its own request call, as the Python client's apps.fetch sends it.
    authy._request("get", "/protected/json/app/details", {}, (err, app) => {
      authy.request_sms(args[0], (smsErr, sms) => {
        print({ app: answer(err, app), sms: answer(smsErr, sms) });
      });
    });
    break;
  case "qr":
    // No generate_qr in this client either: its own request call sends the form body and the
    // api_key query parameter exactly as its other calls do.
    authy._request(
      "post",
      "/protected/json/users/" + encodeURIComponent(args[0]) + "/secret",
      { qr_size: args[1], label: args[2] },
      (err, res) => print(answer(err, res)),
    );
    break;
  case "bad-key":
    require("authy")("not-the-key", process.env.ASSENT_URL).request_sms(args[0], (err, res) =>
      print(answer(err, res)),
    );
    break;
  case "methods":
    print(Object.keys(Object.getPrototypeOf(authy)).sort());
    break;
  default:
    process.stderr.write("unknown step " + step + "\n");
    process.exit(2);
}
