#!/usr/bin/env node
// Generates web/public/models/station.glb: the pumping station the dashboard's 3D view renders.
//
//   cd web && npm ci && npm run gen:station      (or: node scripts/gen-station-gltf.mjs [OUT])
//
// Built from three.js primitives and written with three's GLTFExporter under node, so the model is
// reproducible from this file alone (no binary assets to hand-edit). The output is committed.
//
// What the dashboard relies on (src/three/station.ts):
//   - node "PumpTemplate": one pump set (skid, volute, motor, pipes), origin at the skid centre,
//     cloned once per pump twin and laid out along +x;
//   - node "Tank" (with child "TankFill", a unit-height cylinder scaled by the live level) and
//     node "Header" (the discharge header, unit length along +x, scaled to span the pumps);
//   - nodes named "hs:<signal>" with extras {"hotspot": "<signal>"}: sensor positions. The
//     dashboard draws a coloured marker at each one and opens that signal's chart on click.
//   - node "Floor", "Sump": scenery.
// Units: metres, y up.
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const web = path.join(root, 'web');
const out = process.argv[2] ? path.resolve(process.argv[2]) : path.join(web, 'public', 'models', 'station.glb');

// three lives in web/node_modules (this script sits outside web/, so resolve it from there).
const require = createRequire(path.join(web, 'package.json'));
const threeDir = path.resolve(path.dirname(require.resolve('three')), '..');
const THREE = await import(pathToFileURL(path.join(threeDir, 'build', 'three.module.js')).href);
const { GLTFExporter } = await import(pathToFileURL(path.join(threeDir, 'examples', 'jsm', 'exporters', 'GLTFExporter.js')).href);

// GLTFExporter's binary path reads Blobs with FileReader, which node lacks.
if (typeof globalThis.FileReader === 'undefined') {
  globalThis.FileReader = class {
    readAsArrayBuffer(blob) {
      blob.arrayBuffer().then((b) => { this.result = b; this.onloadend?.(); });
    }
    readAsDataURL(blob) {
      blob.arrayBuffer().then((b) => {
        this.result = `data:${blob.type || 'application/octet-stream'};base64,${Buffer.from(b).toString('base64')}`;
        this.onloadend?.();
      });
    }
  };
}

const mat = (name, color, metalness = 0.3, roughness = 0.6, extra = {}) =>
  Object.assign(new THREE.MeshStandardMaterial({ name, color, metalness, roughness }), extra);
const M = {
  concrete: mat('concrete', 0x3a3f47, 0.0, 0.95),
  sump: mat('sump_water', 0x16324a, 0.1, 0.3),
  skid: mat('skid_steel', 0x2b2f36, 0.6, 0.5),
  pump: mat('pump_casing', 0x2f6fb0, 0.4, 0.45),
  motor: mat('motor', 0x5d6773, 0.5, 0.4),
  guard: mat('coupling_guard', 0xd8a21b, 0.2, 0.6),
  pipe: mat('pipe', 0x8a939e, 0.7, 0.35),
  valve: mat('valve', 0xb3423a, 0.3, 0.5),
  tank: mat('tank_shell', 0x9aa4ae, 0.5, 0.5, { transparent: true, opacity: 0.35 }),
  water: mat('tank_water', 0x2c8fd6, 0.1, 0.2, { transparent: true, opacity: 0.85 }),
  marker: mat('sensor_housing', 0xe6e6e6, 0.2, 0.4),
};

function mesh(name, geometry, material, [x, y, z] = [0, 0, 0], rot = null) {
  const m = new THREE.Mesh(geometry, material);
  m.name = name;
  m.position.set(x, y, z);
  if (rot) m.rotation.set(rot[0], rot[1], rot[2]);
  return m;
}
const box = (w, h, d) => new THREE.BoxGeometry(w, h, d);
const cyl = (r, h, seg = 32) => new THREE.CylinderGeometry(r, r, h, seg);
const AXIS_X = [0, 0, Math.PI / 2];
const AXIS_Z = [Math.PI / 2, 0, 0];

function hotspot(signal, [x, y, z]) {
  const o = new THREE.Object3D();
  o.name = `hs:${signal}`;
  o.position.set(x, y, z);
  o.userData = { hotspot: signal };
  // A small grey sensor housing so the sensor is visible even without the dashboard's marker.
  o.add(mesh(`sensor:${signal}`, new THREE.SphereGeometry(0.06, 16, 12), M.marker));
  return o;
}

// --- one pump set: suction from the sump (-z), discharge up into the header (+y, -z side) ------
function pumpTemplate() {
  const g = new THREE.Group();
  g.name = 'PumpTemplate';
  g.userData = { template: 'pump' };
  g.add(mesh('skid', box(2.2, 0.16, 0.9), M.skid, [0, 0.08, 0]));
  // volute at x=-0.55, axis along x
  g.add(mesh('volute', cyl(0.42, 0.34, 40), M.pump, [-0.55, 0.62, 0], AXIS_X));
  g.add(mesh('pedestal', box(0.3, 0.25, 0.5), M.skid, [-0.55, 0.28, 0]));
  g.add(mesh('bearing_frame', cyl(0.14, 0.35), M.pump, [-0.2, 0.62, 0], AXIS_X));
  g.add(mesh('coupling_guard', box(0.3, 0.3, 0.34), M.guard, [0.12, 0.62, 0]));
  g.add(mesh('motor', cyl(0.3, 0.8, 40), M.motor, [0.65, 0.62, 0], AXIS_X));
  g.add(mesh('motor_fan_cover', cyl(0.27, 0.12, 40), M.skid, [1.1, 0.62, 0], AXIS_X));
  g.add(mesh('motor_feet', box(0.7, 0.3, 0.55), M.skid, [0.65, 0.3, 0]));
  g.add(mesh('terminal_box', box(0.22, 0.14, 0.22), M.motor, [0.6, 0.98, 0]));
  // suction: from the volute eye towards the sump (+z, front)
  g.add(mesh('suction_pipe', cyl(0.15, 1.4), M.pipe, [-0.75, 0.62, 0.7], AXIS_Z));
  g.add(mesh('suction_elbow', cyl(0.15, 1.0), M.pipe, [-0.75, 0.12, 1.4]));
  // discharge: up from the volute top, then back (-z) into the header at y=2.4, z=-1.5
  g.add(mesh('discharge_riser', cyl(0.12, 1.4), M.pipe, [-0.55, 1.7, 0]));
  g.add(mesh('check_valve', box(0.32, 0.28, 0.32), M.valve, [-0.55, 1.55, 0]));
  g.add(mesh('discharge_run', cyl(0.12, 1.5), M.pipe, [-0.55, 2.4, -0.75], AXIS_Z));
  g.add(hotspot('flow_m3h', [-0.55, 2.4, -0.45]));
  g.add(hotspot('discharge_pressure_bar', [-0.38, 1.95, 0]));
  g.add(hotspot('speed_rpm', [0.12, 0.84, 0]));
  g.add(hotspot('power_kw', [0.6, 1.1, 0]));
  g.add(hotspot('motor_temp_c', [0.65, 0.62, 0.34]));
  g.add(hotspot('vibration_mm_s', [-0.2, 0.82, 0.1]));
  return g;
}

function tank() {
  const g = new THREE.Group();
  g.name = 'Tank';
  g.userData = { template: 'tank', height_m: 5, radius_m: 2 };
  g.add(mesh('tank_plinth', cyl(2.2, 0.2, 48), M.concrete, [0, 0.1, 0]));
  g.add(mesh('tank_shell', cyl(2.0, 5.0, 48), M.tank, [0, 2.7, 0]));
  g.add(mesh('tank_roof', new THREE.ConeGeometry(2.05, 0.5, 48), M.pipe, [0, 5.45, 0]));
  // Unit-height water column with its base at the tank floor: the dashboard scales y by level.
  const fillGeom = cyl(1.95, 1.0, 48);
  fillGeom.translate(0, 0.5, 0);
  g.add(mesh('TankFill', fillGeom, M.water, [0, 0.2, 0]));
  g.add(mesh('inlet', cyl(0.2, 1.0), M.pipe, [-2.3, 2.4, 0], AXIS_X));
  g.add(mesh('outlet', cyl(0.18, 1.5), M.pipe, [1.6, 0.5, 1.6], [Math.PI / 2, 0, -Math.PI / 4]));
  g.add(hotspot('level_m', [-2.05, 3.5, 0.3]));
  g.add(hotspot('demand_m3h', [1.95, 0.5, 1.95]));
  return g;
}

function header() {
  // unit length along +x starting at x=0; the dashboard scales x to span the pump row
  const g = new THREE.Group();
  g.name = 'Header';
  const geom = cyl(0.2, 1.0);
  geom.rotateZ(Math.PI / 2);
  geom.translate(0.5, 0, 0);
  g.add(mesh('header_pipe', geom, M.pipe, [0, 2.4, -1.5]));
  return g;
}

const scene = new THREE.Scene();
scene.name = 'PumpingStation';
scene.userData = { generator: 'scripts/gen-station-gltf.mjs', pump_pitch_m: 3.0 };
scene.add(mesh('Floor', box(40, 0.2, 16), M.concrete, [8, -0.1, 0]));
scene.add(mesh('Sump', box(40, 0.05, 2.2), M.sump, [8, 0.01, 2.0]));
scene.add(pumpTemplate());
scene.add(header());
const t = tank();
t.position.set(12, 0, -1.5);
scene.add(t);

const exporter = new GLTFExporter();
const glb = await exporter.parseAsync(scene, { binary: true, onlyVisible: false });
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, Buffer.from(glb));
console.log(`wrote ${path.relative(process.cwd(), out)} (${glb.byteLength} bytes)`);
