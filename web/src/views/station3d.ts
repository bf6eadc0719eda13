// 3D view: the pumping station model (public/models/station.glb, made by
// scripts/gen-station-gltf.mjs) laid out for the station's twins: one pump set per pump twin, the
// header spanning them, the tank with its live water level. Every sensor position in the model
// (extras {"hotspot": signal}) gets a marker coloured by the live value; clicking one opens that
// signal's chart in the twin view. Annotations with a 3D anchor show as pins; alt+click on the
// model pins a new note there (anchor in the clicked twin's local frame). Rendering is on demand
// (camera moves, value changes).
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { CSS2DObject, CSS2DRenderer } from 'three/addons/renderers/CSS2DRenderer.js';
import { AnnotationSet } from '../annotations';
import { ApiError, type Twin } from '../api';
import { routeHref, type AppContext, type View } from '../app';
import { h, toast } from '../dom';
import { format, kindOf, level, signalInfo, type SignalInfo } from '../signals';

const LEVEL_COLORS = { ok: 0x22c55e, warn: 0xf59e0b, alarm: 0xef4444, none: 0x64748b } as const;
const RAMP_LO = new THREE.Color(0x1d4ed8);
const RAMP_HI = new THREE.Color(0x67e8f9);

interface Hotspot {
  twin: string;
  signal: string;
  info: SignalInfo;
  marker: THREE.Mesh<THREE.SphereGeometry, THREE.MeshBasicMaterial>;
  pick: THREE.Mesh;
}

declare global {
  interface Window {
    /** Test hook: hotspots projected to page coordinates (tests/e2e). */
    __doppel3d?: { hotspots(): { twin: string; signal: string; x: number; y: number; color: string }[]; frames: number };
  }
}

function webglAvailable(): boolean {
  try {
    const c = document.createElement('canvas');
    return !!(c.getContext('webgl2') ?? c.getContext('webgl'));
  } catch {
    return false;
  }
}

function colorFor(info: SignalInfo, v: number | undefined, out: THREE.Color): THREE.Color {
  const l = level(info, v);
  if (l === 'none') return out.set(LEVEL_COLORS.none);
  const banded = info.warnHigh !== undefined || info.alarmHigh !== undefined || info.warnLow !== undefined || info.alarmLow !== undefined;
  if (banded) return out.set(LEVEL_COLORS[l]);
  const t = Math.max(0, Math.min(1, ((v as number) - info.min) / (info.max - info.min || 1)));
  return out.copy(RAMP_LO).lerp(RAMP_HI, t);
}

async function stationMembers(ctx: AppContext, stationId: string | undefined): Promise<{ station?: Twin; pumps: Twin[]; tank?: Twin }> {
  const all = [...ctx.twins.values()];
  const station = stationId ? all.find((t) => t.id === stationId) : all.find((t) => t.relationships.some((r) => r.name === 'contains'));
  const members = station ? await ctx.api.twins({ related: station.id, rel: 'contains' }) : all;
  const byId = (a: Twin, b: Twin) => a.id.localeCompare(b.id, undefined, { numeric: true });
  return {
    station,
    pumps: members.filter((t) => kindOf(t.model) === 'pump').sort(byId),
    tank: members.filter((t) => kindOf(t.model) === 'tank').sort(byId)[0],
  };
}

export const station3dView: View = async (root, ctx, route) => {
  const { station, pumps, tank } = await stationMembers(ctx, route.parts[1]);
  const stations = [...ctx.twins.values()].filter((t) => t.relationships.some((r) => r.name === 'contains'));
  const picker = stations.length > 1 ? h('select', { 'aria-label': 'Station', onchange: (e: Event) => ctx.navigate('/3d/' + encodeURIComponent((e.target as HTMLSelectElement).value)) }, ...stations.map((s) => h('option', { value: s.id, selected: s.id === station?.id }, s.id))) : null;
  const legend = h(
    'div',
    { class: 'legend3d' },
    h('span', {}, h('i', { style: 'background:#22c55e' }), 'normal'),
    h('span', {}, h('i', { style: 'background:#f59e0b' }), 'warning'),
    h('span', {}, h('i', { style: 'background:#ef4444' }), 'alarm'),
    h('span', {}, h('i', { style: 'background:linear-gradient(90deg,#1d4ed8,#67e8f9)' }), 'low → high'),
    h('span', {}, h('i', { style: 'background:#64748b' }), 'no data'),
  );
  root.append(
    h('div', { class: 'toolbar' }, h('h1', {}, '3D station'), station ? h('a', { href: routeHref('/twin/' + encodeURIComponent(station.id)) }, station.id) : null, picker, h('span', { class: 'muted' }, `${pumps.length} pumps${tank ? ' · ' + tank.id : ''} · click a sensor to open its chart · alt+click to pin a note`), h('div', { class: 'spacer' }), legend),
  );
  const stage = h('div', { class: 'stage', id: 'stage3d' });
  const tip = h('div', { class: 'tip3d', hidden: true });
  stage.append(tip);
  root.append(stage);

  if (!webglAvailable()) {
    stage.append(h('div', { class: 'panel muted nogl' }, 'This browser cannot create a WebGL context, so the 3D view is unavailable. The fleet and twin views work without it.'));
    return () => {};
  }

  const gltf = await new GLTFLoader().loadAsync(import.meta.env.BASE_URL + 'models/station.glb');
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x0b1017);
  scene.fog = new THREE.Fog(0x0b1017, 40, 90);
  scene.add(new THREE.HemisphereLight(0xbfd4ff, 0x1a1f28, 1.4));
  const sun = new THREE.DirectionalLight(0xffffff, 2.2);
  sun.position.set(8, 14, 10);
  scene.add(sun);

  const model = gltf.scene;
  const find = (pred: (o: THREE.Object3D) => boolean) => {
    let hit: THREE.Object3D | undefined;
    model.traverse((o) => {
      if (!hit && pred(o)) hit = o;
    });
    return hit;
  };
  const template = find((o) => o.userData.template === 'pump');
  const tankNode = find((o) => o.userData.template === 'tank');
  const header = find((o) => o.name === 'Header');
  const floor = find((o) => o.name === 'Floor');
  const sump = find((o) => o.name === 'Sump');
  const fill = find((o) => o.name === 'TankFill');
  const pitch = Number(model.userData.pump_pitch_m) || 3;
  template?.removeFromParent();
  scene.add(model);

  const hotspots: Hotspot[] = [];
  const pickables: THREE.Object3D[] = [];
  const markerGeom = new THREE.SphereGeometry(0.11, 20, 14);
  const pickGeom = new THREE.SphereGeometry(0.24, 8, 6);
  const pickMat = new THREE.MeshBasicMaterial({ visible: false });
  const addHotspots = (node: THREE.Object3D, twin: Twin) => {
    const telemetry = ctx.models.telemetry(twin.model);
    node.traverse((o) => {
      const signal = o.userData.hotspot as string | undefined;
      if (!signal) return;
      const marker = new THREE.Mesh(markerGeom, new THREE.MeshBasicMaterial({ color: LEVEL_COLORS.none }));
      const pick = new THREE.Mesh(pickGeom, pickMat);
      pick.userData.hotspotIndex = hotspots.length;
      o.add(marker, pick);
      hotspots.push({ twin: twin.id, signal, info: signalInfo(signal, telemetry.find((c) => c.name === signal)), marker, pick });
      pickables.push(pick);
    });
  };
  const label = (text: string, href: string, y: number) => {
    const el = h('a', { class: 'label3d', href }, text);
    const obj = new CSS2DObject(el);
    obj.position.set(0, y, 0);
    return obj;
  };

  const groups = new Map<string, THREE.Object3D>(); // twin id -> its node (anchors are local to it)
  pumps.forEach((p, i) => {
    if (!template) return;
    const g = template.clone(true);
    groups.set(p.id, g);
    g.position.set(i * pitch, 0, 0);
    g.name = p.id;
    g.add(label(p.id, routeHref('/twin/' + encodeURIComponent(p.id)), 3.1));
    model.add(g);
    addHotspots(g, p);
  });
  const n = Math.max(pumps.length, 1);
  const tankX = (n - 1) * pitch + 5.5;
  if (tankNode) {
    tankNode.position.set(tankX, 0, -1.5);
    tankNode.visible = !!tank;
    if (tank) {
      groups.set(tank.id, tankNode);
      tankNode.add(label(tank.id, routeHref('/twin/' + encodeURIComponent(tank.id)), 6.3));
      addHotspots(tankNode, tank);
    }
  }
  if (header) {
    header.position.x = -0.55;
    header.scale.x = tankX - 2.3 + 0.55;
  }
  const span = tankX + 6;
  for (const slab of [floor, sump]) {
    if (!slab) continue;
    slab.scale.x = (span + 6) / 40;
    slab.position.x = span / 2 - 3;
  }

  // --- renderer, camera, controls ----------------------------------------------------------------
  const renderer = new THREE.WebGLRenderer({ antialias: true });
  renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
  renderer.outputColorSpace = THREE.SRGBColorSpace;
  const labels = new CSS2DRenderer();
  labels.domElement.classList.add('labels3d');
  stage.prepend(renderer.domElement, labels.domElement);
  const camera = new THREE.PerspectiveCamera(40, 1, 0.1, 200);
  const cx = tankX / 2;
  camera.position.set(cx - 2, 9 + n * 0.4, 13 + n * 1.1);
  const controls = new OrbitControls(camera, labels.domElement);
  controls.target.set(cx, 1.2, -0.5);
  controls.maxPolarAngle = Math.PI * 0.49;
  controls.enableDamping = false;
  controls.update();

  let needsRender = true;
  let frames = 0;
  const request = () => (needsRender = true);
  controls.addEventListener('change', request);
  const resize = () => {
    const w = stage.clientWidth;
    const hgt = stage.clientHeight;
    if (!w || !hgt) return;
    renderer.setSize(w, hgt);
    labels.setSize(w, hgt);
    camera.aspect = w / hgt;
    camera.updateProjectionMatrix();
    request();
  };
  const ro = new ResizeObserver(resize);
  ro.observe(stage);
  resize();

  // --- live values ---------------------------------------------------------------------------
  const tmp = new THREE.Color();
  const refresh = () => {
    for (const hs of hotspots) {
      const v = ctx.store.get(hs.twin, hs.signal)?.value;
      colorFor(hs.info, v, tmp);
      if (!hs.marker.material.color.equals(tmp)) hs.marker.material.color.copy(tmp);
    }
    if (fill && tank) {
      const lv = ctx.store.get(tank.id, 'level_m')?.value;
      fill.scale.y = Math.max(0.01, Math.min(5, lv ?? 0));
      fill.visible = lv !== undefined;
    }
    request();
  };
  const watched = new Set([...pumps.map((p) => p.id), ...(tank ? [tank.id] : [])]);
  const offFrame = ctx.store.onFrame((dirty) => {
    for (const id of dirty) if (watched.has(id)) return refresh();
  });
  ctx.stream.subscribe([...watched], [...new Set(hotspots.map((h) => h.signal))]);
  refresh();

  // --- picking -------------------------------------------------------------------------------
  const ray = new THREE.Raycaster();
  const ndc = new THREE.Vector2();
  const pickAt = (ev: PointerEvent | MouseEvent): Hotspot | undefined => {
    const r = renderer.domElement.getBoundingClientRect();
    ndc.set(((ev.clientX - r.left) / r.width) * 2 - 1, -((ev.clientY - r.top) / r.height) * 2 + 1);
    ray.setFromCamera(ndc, camera);
    const hit = ray.intersectObjects(pickables, false)[0];
    return hit ? hotspots[hit.object.userData.hotspotIndex as number] : undefined;
  };
  let hover: Hotspot | undefined;
  const onMove = (ev: PointerEvent) => {
    const hs = pickAt(ev);
    if (hover && hover !== hs) hover.marker.scale.setScalar(1);
    hover = hs;
    labels.domElement.style.cursor = hs ? 'pointer' : '';
    if (!hs) {
      tip.hidden = true;
      request();
      return;
    }
    hs.marker.scale.setScalar(1.5);
    const v = ctx.store.get(hs.twin, hs.signal)?.value;
    tip.textContent = `${hs.twin} · ${hs.info.title}: ${format(hs.info, v)} ${hs.info.unit}`;
    const r = stage.getBoundingClientRect();
    tip.style.left = `${ev.clientX - r.left + 14}px`;
    tip.style.top = `${ev.clientY - r.top + 14}px`;
    tip.hidden = false;
    request();
  };
  // --- annotation pins -----------------------------------------------------------------------
  const notes = new AnnotationSet(ctx.api, ctx.stream, new Set(groups.keys()));
  const pins: CSS2DObject[] = [];
  const renderPins = () => {
    for (const p of pins.splice(0)) p.removeFromParent();
    for (const a of notes.list()) {
      const g = a.anchor ? groups.get(a.twin) : undefined;
      if (!g || !a.anchor) continue;
      const el = h('div', { class: 'pin3d', 'data-annotation-id': a.id, title: `${a.author}: ${a.text}` }, `◆ ${a.text}`);
      const obj = new CSS2DObject(el);
      obj.position.set(a.anchor.x, a.anchor.y, a.anchor.z);
      g.add(obj);
      pins.push(obj);
    }
    request();
  };
  const offNotes = notes.onChange(renderPins);
  void notes.load();
  const pinAt = (ev: PointerEvent) => {
    const r = renderer.domElement.getBoundingClientRect();
    ndc.set(((ev.clientX - r.left) / r.width) * 2 - 1, -((ev.clientY - r.top) / r.height) * 2 + 1);
    ray.setFromCamera(ndc, camera);
    for (const hit of ray.intersectObjects([...groups.values()], true)) {
      let o: THREE.Object3D | null = hit.object;
      while (o && ![...groups.values()].includes(o)) o = o.parent;
      if (!o) continue;
      const twin = [...groups.entries()].find(([, g]) => g === o)![0];
      const local = o.worldToLocal(hit.point.clone());
      const input = h('input', { type: 'text', placeholder: `Note on ${twin}`, 'aria-label': 'Note text' });
      const sr = stage.getBoundingClientRect();
      const box = h('form', { class: 'pin-form', style: `left:${ev.clientX - sr.left}px;top:${ev.clientY - sr.top}px` }, input, h('button', { type: 'submit', class: 'primary small' }, 'Pin'), h('button', { type: 'button', class: 'small', onclick: () => box.remove() }, '✕'));
      box.addEventListener('submit', async (e) => {
        e.preventDefault();
        const text = input.value.trim();
        if (!text) return;
        const now = Date.now();
        try {
          notes.put(await ctx.api.createAnnotation(twin, { text, from_ns: (now - 60e3) * 1e6, to_ns: now * 1e6, anchor: { x: local.x, y: local.y, z: local.z } }));
          box.remove();
        } catch (err) {
          toast(`Pinning failed: ${err instanceof ApiError ? err.message : String(err)}`, 'error');
        }
      });
      stage.querySelector('.pin-form')?.remove();
      stage.append(box);
      input.focus();
      return;
    }
  };

  let downAt: [number, number] | null = null;
  const onDown = (ev: PointerEvent) => (downAt = [ev.clientX, ev.clientY]);
  const onUp = (ev: PointerEvent) => {
    if (!downAt || Math.hypot(ev.clientX - downAt[0], ev.clientY - downAt[1]) > 5) return; // a drag, not a click
    downAt = null;
    if (ev.altKey) return pinAt(ev);
    const hs = pickAt(ev);
    if (hs) ctx.navigate('/twin/' + encodeURIComponent(hs.twin), { signal: hs.signal });
  };
  labels.domElement.addEventListener('pointermove', onMove);
  labels.domElement.addEventListener('pointerdown', onDown);
  labels.domElement.addEventListener('pointerup', onUp);

  const v3 = new THREE.Vector3();
  window.__doppel3d = {
    frames: 0,
    hotspots: () => {
      const r = renderer.domElement.getBoundingClientRect();
      return hotspots.map((hs) => {
        hs.marker.getWorldPosition(v3).project(camera);
        return { twin: hs.twin, signal: hs.signal, x: r.left + ((v3.x + 1) / 2) * r.width, y: r.top + ((1 - v3.y) / 2) * r.height, color: '#' + hs.marker.material.color.getHexString() };
      });
    },
  };

  let raf = 0;
  const loop = () => {
    raf = requestAnimationFrame(loop);
    if (!needsRender) return;
    needsRender = false;
    renderer.render(scene, camera);
    labels.render(scene, camera);
    frames++;
    if (window.__doppel3d) window.__doppel3d.frames = frames;
  };
  loop();

  return () => {
    offNotes();
    notes.dispose();
    cancelAnimationFrame(raf);
    ro.disconnect();
    offFrame();
    controls.dispose();
    labels.domElement.removeEventListener('pointermove', onMove);
    labels.domElement.removeEventListener('pointerdown', onDown);
    labels.domElement.removeEventListener('pointerup', onUp);
    scene.traverse((o) => {
      const m = o as THREE.Mesh;
      if (m.isMesh) {
        m.geometry?.dispose();
        const mats = Array.isArray(m.material) ? m.material : [m.material];
        for (const mat of mats) mat?.dispose();
      }
    });
    renderer.dispose();
    renderer.forceContextLoss();
    delete window.__doppel3d;
  };
};
