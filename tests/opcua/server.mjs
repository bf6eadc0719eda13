// OPC UA test peer for Doppel's OPC UA client (tests/ingest/opcua_*_test.cc).
//
//   node server.mjs --port N --pki DIR [--user NAME --password PW]
//
// Listens on 127.0.0.1:N with SecurityPolicy None only and prints "ready" when listening.
// Address space (namespace 1):
//   Pump1.Flow   Double, changes every 100 ms; value = (source time in ms mod 1e6) / 1000, so a
//                client can check the source timestamp it received against the value
//   Pump1.Speed  Double, writable (initially 1450)
//   Pump1.Mode   Int32, writable
//   Pump1.Locked Double, read-only: writes are answered with BadNotWritable
//   Pump1.Label  String, writable
// With --user/--password a clear-text user-name token policy is offered on the None endpoint
// (node-opcua only offers encrypted ones there by default) and those credentials are accepted.
import {
  OPCUAServer, OPCUACertificateManager, Variant, DataType, StatusCodes, MessageSecurityMode, SecurityPolicy,
  UserTokenType, AccessLevelFlag,
} from "node-opcua";

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const port = Number(arg("--port", "0"));
const pki = arg("--pki", "./pki");
const user = arg("--user", "");
const password = arg("--password", "");

const serverCertificateManager = new OPCUACertificateManager({ rootFolder: pki + "/server", automaticallyAcceptUnknownCertificate: true });
const userCertificateManager = new OPCUACertificateManager({ rootFolder: pki + "/user", automaticallyAcceptUnknownCertificate: true });

const server = new OPCUAServer({
  port,
  host: "127.0.0.1",
  hostname: "127.0.0.1",
  securityModes: [MessageSecurityMode.None],
  securityPolicies: [SecurityPolicy.None],
  allowAnonymous: true,
  disableDiscovery: true,
  serverCertificateManager,
  userCertificateManager,
  userManager: { isValidUser: (u, p) => user !== "" && u === user && p === password },
  buildInfo: { productName: "doppel-opcua-test-server" },
});

await server.initialize();
const addressSpace = server.engine.addressSpace;
const ns = addressSpace.getOwnNamespace();
const pump = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: "Pump1", nodeId: "s=Pump1" });

const flow = ns.addVariable({ componentOf: pump, browseName: "Flow", nodeId: "s=Pump1.Flow", dataType: "Double" });
function tick() {
  const now = new Date();
  flow.setValueFromSource(new Variant({ dataType: DataType.Double, value: (now.getTime() % 1e6) / 1000 }),
    StatusCodes.Good, now);
}
tick();
setInterval(tick, 100);

const speed = ns.addVariable({
  componentOf: pump, browseName: "Speed", nodeId: "s=Pump1.Speed", dataType: "Double",
  accessLevel: "CurrentRead | CurrentWrite", userAccessLevel: "CurrentRead | CurrentWrite",
});
speed.setValueFromSource(new Variant({ dataType: DataType.Double, value: 1450 }));
const mode = ns.addVariable({
  componentOf: pump, browseName: "Mode", nodeId: "s=Pump1.Mode", dataType: "Int32",
  accessLevel: "CurrentRead | CurrentWrite", userAccessLevel: "CurrentRead | CurrentWrite",
});
mode.setValueFromSource(new Variant({ dataType: DataType.Int32, value: 0 }));
const locked = ns.addVariable({
  componentOf: pump, browseName: "Locked", nodeId: "s=Pump1.Locked", dataType: "Double",
  accessLevel: "CurrentRead", userAccessLevel: "CurrentRead",
});
locked.setValueFromSource(new Variant({ dataType: DataType.Double, value: 7 }));
const label = ns.addVariable({
  componentOf: pump, browseName: "Label", nodeId: "s=Pump1.Label", dataType: "String",
  accessLevel: "CurrentRead | CurrentWrite", userAccessLevel: "CurrentRead | CurrentWrite",
});
label.setValueFromSource(new Variant({ dataType: DataType.String, value: "pump one" }));

if (user !== "") {
  // Offer a clear-text user-name policy on the None endpoint.
  for (const ep of server.endpoints) {
    for (const d of ep.endpointDescriptions()) {
      d.userIdentityTokens.push({
        policyId: "username_clear", tokenType: UserTokenType.UserName, issuedTokenType: null,
        issuerEndpointUrl: null, securityPolicyUri: null,
      });
    }
  }
}

await server.start();
console.log("ready");

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, async () => {
    await server.shutdown(0);
    process.exit(0);
  });
}
