// Planner page (/map/planner): grids coloured by household deviation, buildings and roads as
// vector tiles, and the grid-plan workflow of the API: open a draft, split by a drawn line,
// split into k balanced parts, merge selected neighbours, reshape with snapping, draw a new
// grid, undo, validate (overlay + list), diff, publish. Every change is an API call on the
// draft; nothing is kept in the browser that the server does not have.
//
// For tests: document.body.dataset.plannerReady === "true" once the page has settled;
// dataset.busy is "true" while a request runs; dataset.planId, dataset.gridCount,
// dataset.validation ("ok" | "problems") and dataset.published follow the workflow;
// window.wanggePlanner holds the state (map, plan, sizing, layers, selected keys...).
"use strict";

(function () {
  const W = window.WanggeMap;
  const cfg = W.config();
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const canEdit = cfg.canEdit;

  const CHANGE_ZH = { reshaped: "调整", created: "新建", retired: "撤销" };
  const STATUS_ZH = { below: "偏少", within: "达标", above: "偏多" };
  // Problem styles: errors filled red/orange/purple by kind, slivers magenta, warnings grey.
  const PROBLEM_STYLE = {
    overlap: { color: "#c0392b", fillColor: "#e74c3c", fillOpacity: 0.6, weight: 2 },
    gap: { color: "#d35400", fillColor: "#f39c12", fillOpacity: 0.6, weight: 2, dashArray: "4 3" },
    leak: { color: "#6c3483", fillColor: "#a569bd", fillOpacity: 0.6, weight: 2 },
    sliver: { color: "#ff00ff", fillColor: "#ff00ff", fillOpacity: 0.4, weight: 4 },
    warning: { color: "#566573", fillOpacity: 0.15, weight: 2, dashArray: "2 4" },
  };
  const LEGEND = [
    ["#08519c", "户数远低于下限（≥50%）"],
    ["#6baed6", "户数低于下限"],
    ["#74c476", "在目标范围内"],
    ["#fd8d3c", "户数高于上限"],
    ["#a50f15", "户数远高于上限（≥50%）"],
    ["#cccccc", "无目标（专属网格等）"],
  ];

  const state = {
    map: null,
    cfg: cfg,
    plan: null,
    plans: [],
    sizing: {},
    diff: null,
    diffByKey: {},
    selected: [],
    mode: null,
    gridsLayer: null,
    tileLayers: {},
    problemLayer: null,
    problems: [],
    validation: null,
    published: null,
    tileVersion: Date.now(),
  };
  window.wanggePlanner = state;

  // --- colours -------------------------------------------------------------------------------

  function deviationColor(dev) {
    if (!dev) {
      return "#cccccc";
    }
    const r = Math.abs(dev.ratio || 0);
    if (dev.status === "below") {
      return r >= 0.5 ? "#08519c" : "#6baed6";
    }
    if (dev.status === "above") {
      return r >= 0.5 ? "#a50f15" : "#fd8d3c";
    }
    return "#74c476";
  }

  function deviationOf(key, code) {
    const changed = state.diffByKey[key];
    if (changed) {
      return changed.deviation;
    }
    const current = state.sizing[code || key];
    return current ? current.deviation : null;
  }

  function householdsOf(key, code) {
    const changed = state.diffByKey[key];
    if (changed && changed.after) {
      return changed.after.households;
    }
    const current = state.sizing[code || key];
    return current ? current.households : null;
  }

  // --- busy / messages -----------------------------------------------------------------------

  // Requests may overlap (the sizing loads beside the plans): busy until the last one ends.
  let pending = 0;

  async function run(label, fn, keepError) {
    pending += 1;
    body.dataset.busy = "true";
    if (!keepError) {
      W.clearError();
    }
    W.setStatus(label + "…");
    try {
      const result = await fn();
      return result;
    } catch (error) {
      const status = error && error.status;
      let text = (error && error.message) || "未知错误";
      const conflicts = error && error.body && error.body.conflicts;
      if (Array.isArray(conflicts) && conflicts.length) {
        const extra = conflicts
          .map((c) => c.message_zh || c.code || "")
          .filter((m) => m && !text.includes(m));
        if (extra.length) {
          text += "：" + extra.join("；");
        }
      }
      W.showError(label + "失败：" + text, cfg, status);
      console.warn("wangge planner:", label, status, text);
      return null;
    } finally {
      pending -= 1;
      body.dataset.busy = pending > 0 ? "true" : "false";
      updateStatus();
    }
  }

  function updateStatus() {
    if (state.plan) {
      const edits = (state.plan.edits || []).filter((e) => !e.undone).length;
      W.setStatus("方案 #" + state.plan.id + "（" + state.plan.name + "）· " + edits + " 项修改 · " + gridCount() + " 个网格");
    } else {
      W.setStatus("现行网格 " + Object.keys(state.sizing).length + " 个");
    }
  }

  function gridCount() {
    return state.gridsLayer ? state.gridsLayer.getLayers().length : 0;
  }

  // --- layers --------------------------------------------------------------------------------

  function addTileLayers() {
    const map = state.map;
    const t = state.tileLayers;
    t.grids = W.vectorTiles(map, cfg, "grids", {
      zIndex: 405,
      params: { v: String(state.tileVersion) },
      style: (p) => ({
        color: "#1f4e9c",
        weight: 1.5,
        fill: true,
        fillColor: deviationColor(deviationOf(p.code, p.code)),
        fillOpacity: 0.55,
      }),
    });
    t.communities = W.vectorTiles(map, cfg, "admin_units", {
      zIndex: 420,
      style: (p) =>
        p.level === "community"
          ? { color: "#c0392b", weight: 3, dashArray: "8 5", fill: false }
          : { color: "#34495e", weight: 1, opacity: 0.5, fill: false },
    });
    t.roads = W.vectorTiles(map, cfg, "roads", {
      zIndex: 425,
      style: () => ({ color: "#7f8c8d", weight: 4, opacity: 0.8 }),
    });
    t.buildings = W.vectorTiles(map, cfg, "buildings", {
      zIndex: 430,
      minZoom: 13,
      style: () => ({
        color: "#5d4037",
        weight: 1,
        fill: true,
        fillColor: "#e67e22",
        fillOpacity: 0.85,
      }),
    });
    for (const name of ["grids", "communities", "roads", "buildings"]) {
      t[name].on("load", () => {
        body.dataset["tiles" + name[0].toUpperCase() + name.slice(1)] = "loaded";
      });
      t[name].addTo(map);
    }
    L.control
      .layers(null, { 现行网格: t.grids, 社区边界: t.communities, 道路: t.roads, 建筑: t.buildings }, {
        collapsed: true,
        position: "topright",
      })
      .addTo(map);
  }

  // Community outlines as invisible GeoJSON: vector tiles are pictures, so these are what a
  // drawn or dragged vertex snaps to on the community border (a grid must not leak out of it).
  async function loadOutlines() {
    const collection = await W.api("GET", "/collections/admin_units/items?limit=1000");
    const communities = collection.features.filter((f) => f.properties.level === "community");
    state.outlines = L.geoJSON(
      W.toDisplay(cfg, { type: "FeatureCollection", features: communities }),
      {
        pane: "wangge-grids",
        style: () => ({ opacity: 0, fill: false, weight: 1 }),
        interactive: false,
        pmIgnore: true,
        snapIgnore: false,
      }
    ).addTo(state.map);
  }

  function refreshGridTiles() {
    // A new cache key: tiles are cached for a minute, but a publish changes the grids now.
    state.tileVersion = Date.now();
    state.tileLayers.grids.setUrl(W.tileUrl(cfg, "grids", { v: String(state.tileVersion) }));
  }

  function gridStyle(feature) {
    const p = feature.properties;
    const selected = state.selected.includes(p.key);
    return {
      className: "wangge-grid" + (p.draft ? " wangge-grid-draft" : ""),
      color: selected ? "#000000" : p.draft ? "#8e44ad" : "#1f4e9c",
      weight: selected ? 4 : p.draft ? 3 : 1.5,
      dashArray: p.draft ? "6 4" : null,
      fillColor: deviationColor(deviationOf(p.key, p.code)),
      fillOpacity: 0.55,
    };
  }

  function gridTooltip(p) {
    const dev = deviationOf(p.key, p.code);
    return W.table([
      ["网格编码", p.code || "（新网格，发布时编码）"],
      ["方案内标识", p.key !== p.code ? p.key : null],
      ["名称", p.name],
      ["户数", householdsOf(p.key, p.code)],
      ["户数偏差", dev ? STATUS_ZH[dev.status] + "（" + dev.deviation + "）" : "无目标"],
      ["面积（平方米）", p.area_m2],
    ]);
  }

  async function loadDraftGrids() {
    const response = await fetch("/plans/" + state.plan.id + "/grids", {
      credentials: "same-origin",
      headers: { Accept: "application/geo+json" },
    });
    if (!response.ok) {
      throw new W.ApiError(response.status, "无法加载方案网格（HTTP " + response.status + "）");
    }
    const collection = await response.json();
    if (state.gridsLayer) {
      state.gridsLayer.remove();
    }
    state.gridsLayer = L.geoJSON(W.toDisplay(cfg, collection), {
      pane: "wangge-grids",
      style: gridStyle,
      onEachFeature: (feature, layer) => {
        layer.bindTooltip(() => gridTooltip(feature.properties), { sticky: true, opacity: 1 });
        layer.on("click", () => toggleSelect(feature.properties.key));
      },
    }).addTo(state.map);
    body.dataset.gridCount = String(gridCount());
  }

  function layerOfKey(key) {
    if (!state.gridsLayer) {
      return null;
    }
    return state.gridsLayer.getLayers().find((l) => l.feature.properties.key === key) || null;
  }

  // --- selection and tools -------------------------------------------------------------------

  function toggleSelect(key) {
    if (state.mode || !state.plan) {
      return; // while drawing or reshaping, clicks belong to the drawing tool
    }
    const i = state.selected.indexOf(key);
    if (i >= 0) {
      state.selected.splice(i, 1);
    } else {
      state.selected.push(key);
    }
    state.gridsLayer.setStyle(gridStyle);
    updateTools();
  }

  function updateTools() {
    const n = state.selected.length;
    const draft = !!state.plan && state.plan.status === "draft" && canEdit;
    const idle = !state.mode;
    $("selection").textContent = n
      ? "已选网格：" + state.selected.join("、")
      : "已选网格：无（点击网格可选择，再次点击取消）";
    $("tool-split-line").disabled = !(draft && idle && n === 1);
    $("tool-split-k").disabled = !(draft && idle && n === 1);
    $("tool-merge").disabled = !(draft && idle && n >= 2);
    $("tool-reshape").disabled = !(draft && idle && n === 1);
    $("tool-create").disabled = !(draft && idle);
    const active = state.plan ? (state.plan.edits || []).filter((e) => !e.undone).length : 0;
    $("tool-undo").disabled = !(draft && idle && active > 0);
    $("tool-validate").disabled = !(state.plan && idle);
    $("tool-publish").disabled = !(draft && idle && active > 0);
    $("tool-cancel").hidden = !state.mode;
    $("tool-reshape-save").hidden = state.mode !== "reshape";
    $("plan-new").disabled = !canEdit || !idle;
    $("plan-select").disabled = !idle;
  }

  function hint(text) {
    $("tool-hint").textContent = text || "";
  }

  function endMode() {
    const map = state.map;
    if (map.pm) {
      map.pm.disableDraw();
    }
    if (state.mode === "reshape" && state.reshaping) {
      state.reshaping.pm.disable();
    }
    state.mode = null;
    state.reshaping = null;
    hint("");
    updateTools();
  }

  async function submitEdit(label, edit) {
    const done = await run(label, async () => {
      await W.api("POST", "/plans/" + state.plan.id + "/edits", edit);
      state.selected = [];
      await reloadPlan();
      return true;
    });
    if (!done) {
      // The draft is unchanged: redraw it (a refused reshape leaves moved vertices), keeping
      // the message that says why the edit was refused.
      await run("重新加载方案", reloadPlan, true);
    }
    return done;
  }

  function startSplitLine() {
    const key = state.selected[0];
    state.mode = "split-line";
    state.splitKey = key;
    hint("在地图上画一条穿过网格 " + key + " 的分割线：逐点单击，最后在末点再单击一次结束。");
    state.map.pm.enableDraw("Line", { snappable: true, snapDistance: 15, finishOn: null });
    updateTools();
  }

  function startCreate() {
    state.mode = "create";
    hint("逐点单击绘制新网格的边界，单击起点闭合。邻近网格的边界会自动吸附。");
    state.map.pm.enableDraw("Polygon", { snappable: true, snapDistance: 15 });
    updateTools();
  }

  function startReshape() {
    const key = state.selected[0];
    const layer = layerOfKey(key);
    if (!layer) {
      return;
    }
    state.mode = "reshape";
    state.reshaping = layer;
    hint("拖动顶点调整网格 " + key + " 的边界（吸附到相邻网格），然后点击“保存边界”。");
    layer.pm.enable({ snappable: true, snapDistance: 15, allowSelfIntersection: false });
    updateTools();
  }

  async function onDrawn(event) {
    const drawn = event.layer;
    const geometry = drawn.toGeoJSON().geometry;
    drawn.remove();
    const mode = state.mode;
    const key = state.splitKey;
    endMode();
    if (mode === "split-line") {
      await submitEdit("画线分割", { op: "split", key: key, geometry: geometry, crs: W.drawnCrs(cfg) });
    } else if (mode === "create") {
      const name = "新建网格" + new Date().toISOString().slice(11, 19).replace(/:/g, "");
      await submitEdit("绘制新网格", { op: "create", name: name, geometry: geometry, crs: W.drawnCrs(cfg) });
    }
  }

  async function saveReshape() {
    const layer = state.reshaping;
    const key = state.selected[0];
    const geometry = layer.toGeoJSON().geometry;
    endMode();
    await submitEdit("调整边界", { op: "reshape", key: key, geometry: geometry, crs: W.drawnCrs(cfg) });
  }

  async function splitBalanced() {
    const key = state.selected[0];
    const raw = $("split-k").value.trim();
    const edit = { op: "split", method: "balanced", key: key };
    if (raw) {
      edit.k = Number(raw);
    }
    await submitEdit("均衡拆分", edit);
  }

  async function merge() {
    await submitEdit("合并网格", { op: "merge", keys: state.selected.slice() });
  }

  async function undo() {
    await run("撤销", async () => {
      await W.api("POST", "/plans/" + state.plan.id + "/undo");
      state.selected = [];
      await reloadPlan();
    });
  }

  // --- validation ------------------------------------------------------------------------------

  function clearProblems() {
    if (state.problemLayer) {
      state.problemLayer.remove();
      state.problemLayer = null;
    }
    state.problems = [];
    state.validation = null;
    delete body.dataset.validation;
    $("problem-list").textContent = "";
    $("validation-summary").textContent = "";
  }

  function problemStyle(problem) {
    if (problem.severity === "sliver") {
      return PROBLEM_STYLE.sliver;
    }
    if (problem.severity === "warning") {
      return PROBLEM_STYLE.warning;
    }
    return PROBLEM_STYLE[problem.kind] || PROBLEM_STYLE.overlap;
  }

  async function validate() {
    await run("校验", async () => {
      const result = await W.api("GET", "/plans/" + state.plan.id + "/validate");
      clearProblems();
      state.validation = result;
      state.problems = result.problems;
      const features = result.problems
        .filter((p) => p.geometry)
        .map((p, i) => ({ type: "Feature", id: i, geometry: p.geometry, properties: p }));
      state.problemLayer = L.geoJSON(W.toDisplay(cfg, { type: "FeatureCollection", features: features }), {
        pane: "wangge-problems",
        pmIgnore: true,
        snapIgnore: true,
        style: (f) => Object.assign({ className: "wangge-problem wangge-problem-" + f.properties.kind }, problemStyle(f.properties)),
        pointToLayer: (f, latlng) => L.circleMarker(latlng, Object.assign({ radius: 8 }, problemStyle(f.properties))),
        onEachFeature: (f, layer) => layer.bindTooltip(f.properties.message_zh, { sticky: true }),
      }).addTo(state.map);
      const list = $("problem-list");
      const byIndex = {};
      state.problemLayer.eachLayer((layer) => {
        byIndex[layer.feature.id] = layer;
      });
      result.problems.forEach((problem, i) => {
        const item = document.createElement("li");
        item.className = "wangge-problem-item wangge-" + problem.severity;
        item.textContent = "[" + problem.kind + "] " + problem.message_zh;
        item.tabIndex = 0;
        item.addEventListener("click", () => {
          const layer = byIndex[i];
          if (layer && layer.getBounds) {
            state.map.fitBounds(layer.getBounds(), { maxZoom: 18, padding: [40, 40] });
          } else if (layer && layer.getLatLng) {
            state.map.setView(layer.getLatLng(), 18);
          }
          if (layer) {
            layer.openTooltip();
          }
        });
        list.appendChild(item);
      });
      const stale = (result.stale || []).length;
      $("validation-summary").textContent = result.ok
        ? "校验通过：无缝隙、无重叠，可以发布。" + (result.problems.length ? "（另有 " + result.problems.length + " 条提示）" : "")
        : (result.coverage && result.coverage.message_zh ? result.coverage.message_zh : "校验未通过") +
          (stale ? "；" + stale + " 个网格已被其他方案修改" : "");
      body.dataset.validation = result.ok ? "ok" : "problems";
    });
  }

  // --- diff ------------------------------------------------------------------------------------

  function renderDiff(diff) {
    const panel = $("diff-panel");
    panel.textContent = "";
    if (!diff.grids.length) {
      panel.textContent = "方案尚无修改。";
      return;
    }
    const t = document.createElement("table");
    t.className = "table table-sm wangge-diff";
    const head = t.createTHead().insertRow();
    for (const label of ["网格", "变化", "户数 前→后", "偏差"]) {
      const th = document.createElement("th");
      th.textContent = label;
      head.appendChild(th);
    }
    const tbody = t.createTBody();
    for (const g of diff.grids) {
      const row = tbody.insertRow();
      row.className = "wangge-diff-" + g.change;
      row.insertCell().textContent = g.code + (g.name ? " " + g.name : "");
      row.insertCell().textContent = CHANGE_ZH[g.change] || g.change;
      const before = g.before ? g.before.households : "—";
      const after = g.after ? g.after.households : "—";
      row.insertCell().textContent = before + " → " + after;
      row.insertCell().textContent = g.deviation ? STATUS_ZH[g.deviation.status] + "（" + g.deviation.deviation + "）" : "—";
    }
    panel.appendChild(t);
    const moves = diff.moves.reduce((n, m) => n + m.count, 0);
    const summary = document.createElement("div");
    summary.textContent =
      "新增编码 " + diff.codes_created.length + " 个，撤销编码 " + diff.codes_retired.length + " 个，迁移记录 " + moves + " 条。";
    panel.appendChild(summary);
  }

  async function reloadDiff() {
    const active = (state.plan.edits || []).filter((e) => !e.undone).length;
    // A draft without edits changes nothing: skip the diff, which counts rows street-wide.
    const diff = active
      ? await W.api("GET", "/plans/" + state.plan.id + "/diff")
      : { grids: [], moves: [], codes_created: [], codes_retired: [], codes_kept: [], stale: [] };
    state.diff = diff;
    state.diffByKey = {};
    for (const g of diff.grids) {
      if (g.change !== "retired") {
        state.diffByKey[g.key] = g;
      }
    }
    renderDiff(diff);
  }

  // --- plans -----------------------------------------------------------------------------------

  async function loadSizing() {
    const sizing = await W.api("GET", "/grids/sizing");
    state.sizing = {};
    for (const g of sizing.grids) {
      state.sizing[g.code] = g;
    }
  }

  async function loadPlans() {
    const listing = await W.api("GET", "/plans?status=draft");
    state.plans = listing.plans;
    const select = $("plan-select");
    while (select.options.length > 1) {
      select.remove(1);
    }
    for (const plan of listing.plans) {
      const option = document.createElement("option");
      option.value = String(plan.id);
      option.textContent = "#" + plan.id + " " + plan.name;
      select.appendChild(option);
    }
    select.value = state.plan ? String(state.plan.id) : "";
  }

  async function reloadPlan() {
    state.plan = await W.api("GET", "/plans/" + state.plan.id);
    clearProblems();
    await reloadDiff();
    await loadDraftGrids();
    const active = (state.plan.edits || []).filter((e) => !e.undone).length;
    $("plan-info").textContent =
      "方案 #" + state.plan.id + "「" + state.plan.name + "」，状态：草稿，有效修改 " + active + " 项。" +
      (canEdit ? "" : "（只读）");
    updateTools();
  }

  async function openPlan(id) {
    endMode();
    clearProblems();
    state.selected = [];
    if (!id) {
      closePlan();
      return;
    }
    await run("打开方案", async () => {
      state.plan = { id: Number(id) };
      await reloadPlan();
      state.map.removeLayer(state.tileLayers.grids);
      body.dataset.planId = String(state.plan.id);
    });
  }

  function closePlan() {
    state.plan = null;
    state.diff = null;
    state.diffByKey = {};
    if (state.gridsLayer) {
      state.gridsLayer.remove();
      state.gridsLayer = null;
    }
    if (!state.map.hasLayer(state.tileLayers.grids)) {
      state.tileLayers.grids.addTo(state.map);
    }
    delete body.dataset.planId;
    delete body.dataset.gridCount;
    $("plan-info").textContent = "未打开方案：显示现行网格。";
    $("diff-panel").textContent = "打开方案后显示各网格变化。";
    $("plan-select").value = "";
    updateTools();
    updateStatus();
  }

  async function newPlan() {
    const name = "网格调整方案 " + new Date().toLocaleString("zh-CN", { hour12: false });
    const plan = await run("新建方案", () =>
      W.api("POST", "/plans", { scope_code: cfg.user.areaCode, name: name })
    );
    if (plan) {
      await run("加载方案列表", loadPlans);
      $("plan-select").value = String(plan.id);
      await openPlan(plan.id);
    }
  }

  async function publish() {
    if (!window.confirm("发布后新网格立即生效，原网格版本关闭。确定发布方案 #" + state.plan.id + "？")) {
      return;
    }
    const result = await run("发布方案", () => W.api("POST", "/plans/" + state.plan.id + "/publish", {}));
    if (!result) {
      return;
    }
    state.published = result;
    body.dataset.published = (result.codes_issued || []).join(",");
    await run("刷新现行网格", async () => {
      await loadSizing();
      closePlan();
      refreshGridTiles();
      await loadPlans();
    });
    $("plan-info").textContent =
      "方案已发布：新增网格 " + (result.codes_issued || []).length + " 个，撤销 " + (result.codes_retired || []).length + " 个。";
  }

  // --- start -----------------------------------------------------------------------------------

  function legend() {
    const box = $("legend");
    for (const [color, label] of LEGEND) {
      const row = document.createElement("div");
      const swatch = document.createElement("span");
      swatch.className = "wangge-swatch";
      swatch.style.background = color;
      row.appendChild(swatch);
      row.appendChild(document.createTextNode(label));
      box.appendChild(row);
    }
  }

  async function start() {
    W.setupLogout();
    const map = W.createMap(cfg);
    state.map = map;
    map.createPane("wangge-grids").style.zIndex = "410";
    map.createPane("wangge-problems").style.zIndex = "450";
    legend();
    if (map.pm) {
      map.pm.setLang("zh");
      map.on("pm:create", onDrawn);
    }
    $("plan-select").addEventListener("change", (e) => openPlan(e.target.value));
    $("plan-new").addEventListener("click", newPlan);
    $("tool-split-line").addEventListener("click", startSplitLine);
    $("tool-split-k").addEventListener("click", splitBalanced);
    $("tool-merge").addEventListener("click", merge);
    $("tool-reshape").addEventListener("click", startReshape);
    $("tool-reshape-save").addEventListener("click", saveReshape);
    $("tool-create").addEventListener("click", startCreate);
    $("tool-cancel").addEventListener("click", async () => {
      const wasReshape = state.mode === "reshape";
      endMode();
      if (wasReshape) {
        await run("重新加载方案", reloadPlan);
      }
    });
    $("tool-undo").addEventListener("click", undo);
    $("tool-validate").addEventListener("click", validate);
    $("tool-publish").addEventListener("click", publish);

    // Households per grid (for the colours) load while the tiles and the plans load: on a
    // street of thousands of grids it is the slowest request. Until it arrives grids are grey;
    // then the grid tiles and any open draft are restyled.
    addTileLayers();
    const sizing = run("加载网格户数", loadSizing).then(() => {
      state.tileLayers.grids.redraw();
      if (state.gridsLayer) {
        state.gridsLayer.setStyle(gridStyle);
      }
    });
    const outlines = run("加载社区边界", loadOutlines);
    await run("加载方案列表", loadPlans);
    const wanted = new URLSearchParams(window.location.search).get("plan");
    if (wanted && state.plans.some((p) => String(p.id) === wanted)) {
      $("plan-select").value = wanted;
      await openPlan(wanted);
    }
    await Promise.all([sizing, outlines]);
    updateTools();
    updateStatus();
    body.dataset.plannerReady = "true";
  }

  start();
})();
