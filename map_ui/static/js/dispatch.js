// Dispatcher page (/map/dispatch): the incidents of the user's area as a heatmap (heat cells
// of /stats/cells, drawn as coloured cells and as a leaflet.heat layer), incidents per 100
// households per grid (/stats/grids), Gi* hot spots (/stats/hotspots), clustered incident
// markers at high zoom (/collections/incidents/items), the overdue and supervised lists, and an
// incident's history with the actions the API allows the user (GET /incidents/{id}).
// Category, status and the time slider re-query every layer.
//
// For tests: body[data-dispatch-ready="true"] once the first load settled; data-busy is "true"
// while the layers reload; data-heat-total / data-heat-cells are the heat answer's incident
// and cell counts; data-markers the incident markers drawn; data-incident-id and
// data-incident-status the open incident; window.wanggeDispatch holds the state.
"use strict";

(function () {
  const W = window.WanggeMap;
  const cfg = W.config();
  const body = document.body;
  const $ = (id) => document.getElementById(id);

  //: Incidents are drawn one by one (clustered) from this zoom; below it only the heat layers.
  const MARKER_ZOOM = 15;
  const HEAT_SIZES_M = [25, 50, 100, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000];
  const HEAT_COLOURS = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
  const RATE_COLOURS = ["#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f"];
  const RISK_ZH = { high: "高", medium: "中", low: "低" };
  const SUPERVISION_ZH = { none: "无", normal: "一般", yellow: "黄牌", red: "红牌" };

  const state = {
    cfg: cfg,
    map: null,
    statuses: {},
    transitions: {},
    categories: {},
    heat: null,
    heatCells: null,
    heatLayer: null,
    rates: null,
    ratesLayer: null,
    hotspotLayer: null,
    markers: null,
    incident: null,
    loadSeq: 0,
  };
  window.wanggeDispatch = state;

  // --- helpers -------------------------------------------------------------------------------

  function clear(el) {
    while (el.firstChild) {
      el.removeChild(el.firstChild);
    }
  }

  function item(list, text, onClick) {
    const li = document.createElement("li");
    li.textContent = text;
    if (onClick) {
      li.className = "wangge-link-item";
      li.tabIndex = 0;
      li.addEventListener("click", onClick);
      li.addEventListener("keydown", (e) => {
        if (e.key === "Enter") {
          onClick();
        }
      });
    }
    list.appendChild(li);
    return li;
  }

  function localTime(iso) {
    if (!iso) {
      return "";
    }
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function bucket(value, max, colours) {
    if (!max || value <= 0) {
      return colours[0];
    }
    const i = Math.min(colours.length - 1, Math.floor((value / max) * colours.length));
    return colours[i];
  }

  // The map's view as a storage (WGS-84) bbox, kept within the stats API's 5° limit.
  function viewBbox() {
    const b = state.map.getBounds();
    let sw = [b.getWest(), b.getSouth()];
    let ne = [b.getEast(), b.getNorth()];
    if (cfg.displayCrs === "gcj02") {
      sw = gcoord.transform(sw, gcoord.GCJ02, gcoord.WGS84);
      ne = gcoord.transform(ne, gcoord.GCJ02, gcoord.WGS84);
    }
    const cx = (sw[0] + ne[0]) / 2;
    const cy = (sw[1] + ne[1]) / 2;
    const hw = Math.min((ne[0] - sw[0]) / 2, 2.45);
    const hh = Math.min((ne[1] - sw[1]) / 2, 2.45);
    const r = (v) => v.toFixed(6);
    return [r(cx - hw), r(Math.max(cy - hh, -89.9)), r(cx + hw), r(Math.min(cy + hh, 89.9))].join(",");
  }

  // About 1/32 of a 256 px tile, snapped down to the lattice sizes the heat tiles use too.
  function heatSize() {
    const z = state.map.getZoom();
    const lat = state.map.getCenter().lat;
    const tileM = (40075016.686 * Math.cos((lat * Math.PI) / 180)) / Math.pow(2, z);
    let size = HEAT_SIZES_M[0];
    for (const s of HEAT_SIZES_M) {
      if (s <= tileM / 32) {
        size = s;
      }
    }
    return size;
  }

  // --- filters -------------------------------------------------------------------------------

  function windowDays() {
    const i = Number($("filter-time").value);
    return cfg.windowsDays[i];
  }

  function startIso() {
    const days = windowDays();
    if (days === null || days === undefined) {
      return null;
    }
    return new Date(Date.parse(cfg.now) - days * 86400000).toISOString();
  }

  function filterParams() {
    const params = {};
    const category = $("filter-category").value;
    const status = $("filter-status").value;
    if (category) {
      params.category = category;
    }
    if (status) {
      params.status = status;
    }
    return params;
  }

  function statsQuery(extra) {
    const q = new URLSearchParams(Object.assign({}, filterParams(), extra || {}));
    const start = startIso();
    if (start) {
      q.set("start", start);
    }
    return q;
  }

  function itemsQuery(extra) {
    const q = new URLSearchParams(Object.assign({}, filterParams(), extra || {}));
    const start = startIso();
    if (start) {
      q.set("datetime", start + "/..");
    }
    return q;
  }

  function timeLabel() {
    const days = windowDays();
    if (days === null || days === undefined) {
      return "全部";
    }
    return days === 1 ? "最近 1 天" : `最近 ${days} 天`;
  }

  async function loadFilterOptions() {
    const [workflow, categories] = await Promise.all([
      W.api("GET", "/incidents/workflow"),
      W.api("GET", "/incidents/categories"),
    ]);
    state.statuses = workflow.statuses;
    for (const t of workflow.transitions) {
      state.transitions[t.action] = t;
    }
    const statusSelect = $("filter-status");
    for (const [code, zh] of Object.entries(workflow.statuses)) {
      const opt = document.createElement("option");
      opt.value = code;
      opt.textContent = zh;
      statusSelect.appendChild(opt);
    }
    const catSelect = $("filter-category");
    for (const c of categories) {
      state.categories[c.code] = c;
      const opt = document.createElement("option");
      opt.value = c.code;
      opt.textContent = (c.parent_code ? "　" : "") + c.name_zh;
      catSelect.appendChild(opt);
    }
    const slider = $("filter-time");
    slider.max = String(cfg.windowsDays.length - 1);
    slider.value = String(cfg.windowsDays.length - 1); // everything
    $("filter-time-label").textContent = timeLabel();
  }

  // --- layers --------------------------------------------------------------------------------

  function addContextLayers() {
    const map = state.map;
    const grids = W.vectorTiles(map, cfg, "grids", {
      zIndex: 402,
      style: () => ({ color: "#1f4e9c", weight: 1, fill: false, opacity: 0.7 }),
    });
    const communities = W.vectorTiles(map, cfg, "admin_units", {
      zIndex: 403,
      style: (p) =>
        p.level === "community"
          ? { color: "#c0392b", weight: 2.5, dashArray: "8 5", fill: false }
          : { color: "#34495e", weight: 1, opacity: 0.5, fill: false },
    });
    grids.on("load", () => (body.dataset.tilesGrids = "loaded"));
    grids.addTo(map);
    communities.addTo(map);
    map.createPane("wangge-rates").style.zIndex = "401";
    map.createPane("wangge-heat").style.zIndex = "404";
    map.createPane("wangge-hotspots").style.zIndex = "406";
    state.ratesLayer = L.geoJSON(null, {
      pane: "wangge-rates",
      style: (f) => ({
        className: "wangge-grid-rate",
        color: "#54278f",
        weight: 1,
        fillColor: rateColour(f.properties.per_100_households),
        fillOpacity: 0.55,
      }),
      onEachFeature: (f, layer) => {
        const p = f.properties;
        layer.bindTooltip(
          W.table([
            ["网格", `${p.name}（${p.code}）`],
            ["事件数", p.count],
            ["户数", p.households],
            ["每百户事件", p.per_100_households === null ? "无住户" : p.per_100_households],
          ]),
          { sticky: true }
        );
      },
    }).addTo(map);
    state.heatCells = L.geoJSON(null, {
      pane: "wangge-heat",
      style: (f) => ({
        className: "wangge-heat-cell",
        stroke: false,
        fillColor: bucket(f.properties.count, state.heat ? state.heat.max : 1, HEAT_COLOURS),
        fillOpacity: 0.75,
      }),
      onEachFeature: (f, layer) => {
        layer.bindTooltip(W.table([["事件数", f.properties.count]]), { sticky: true });
      },
    }).addTo(map);
    state.heatLayer = L.heatLayer([], { radius: 30, blur: 20, maxZoom: 12, minOpacity: 0.3 });
    state.heatLayer.addTo(map);
    state.hotspotLayer = L.geoJSON(null, {
      pane: "wangge-hotspots",
      style: (f) => ({
        className: "wangge-hotspot",
        color: f.properties.class.startsWith("hot") ? "#d7191c" : "#2c7bb6",
        weight: 4,
        fill: false,
      }),
    }).addTo(map);
    state.markers = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50 });
    state.markers.addTo(map);
    L.control
      .layers(
        null,
        {
          热力格: state.heatCells,
          热力图: state.heatLayer,
          每百户事件: state.ratesLayer,
          热点网格: state.hotspotLayer,
          事件点: state.markers,
          网格: grids,
          社区边界: communities,
        },
        { collapsed: true, position: "topright" }
      )
      .addTo(map);
  }

  function rateColour(value) {
    if (value === null || value === undefined) {
      return "#dddddd";
    }
    return bucket(value, state.rates ? state.rates.maxRate : 1, RATE_COLOURS);
  }

  function drawLegend() {
    const legend = $("legend");
    clear(legend);
    const rows = [
      [HEAT_COLOURS[4], "热力格：事件最多"],
      [HEAT_COLOURS[0], "热力格：事件较少"],
      [RATE_COLOURS[4], "每百户事件最多的网格"],
      [RATE_COLOURS[0], "每百户事件较少的网格"],
      ["#d7191c", "热点网格（红框）"],
    ];
    for (const [colour, text] of rows) {
      const div = document.createElement("div");
      const sw = document.createElement("span");
      sw.className = "wangge-swatch";
      sw.style.background = colour;
      div.appendChild(sw);
      div.appendChild(document.createTextNode(text));
      legend.appendChild(div);
    }
  }

  async function loadHeat() {
    const q = statsQuery({ bbox: viewBbox(), size: String(heatSize()) });
    const fc = await W.api("GET", "/stats/cells?" + q.toString());
    state.heat = fc;
    state.heatCells.clearLayers();
    state.heatCells.addData(W.toDisplay(cfg, fc));
    const points = [];
    for (const f of fc.features) {
      const ring = f.geometry.coordinates[0];
      let x = 0;
      let y = 0;
      for (const [lon, lat] of ring.slice(0, -1)) {
        x += lon;
        y += lat;
      }
      const n = ring.length - 1;
      const ll = W.displayLatLng(cfg, x / n, y / n);
      points.push([ll.lat, ll.lng, f.properties.count]);
    }
    state.heatLayer.setOptions({ max: Math.max(1, fc.max || 1) });
    state.heatLayer.setLatLngs(points);
    body.dataset.heatTotal = String(fc.total);
    body.dataset.heatCells = String(fc.features.length);
    $("heat-summary").textContent =
      `当前视图：事件 ${fc.total} 件，热力格 ${fc.features.length} 个（${fc.size_m} 米），` +
      `${timeLabel()}`;
  }

  async function loadRates() {
    const fc = await W.api("GET", "/stats/grids?" + statsQuery().toString());
    let maxRate = 0;
    for (const f of fc.features) {
      maxRate = Math.max(maxRate, f.properties.per_100_households || 0);
    }
    state.rates = { fc: fc, maxRate: maxRate };
    state.ratesLayer.clearLayers();
    state.ratesLayer.addData(W.toDisplay(cfg, fc));
    body.dataset.rateGrids = String(fc.features.length);
  }

  async function loadHotspots() {
    const list = $("hotspot-list");
    if (state.rates && state.rates.fc.features.length < 3) {
      // Gi* needs neighbours: the API refuses fewer than 3 grids; do not ask it.
      state.hotspotLayer.clearLayers();
      clear(list);
      item(list, `辖区仅 ${state.rates.fc.features.length} 个网格，热点分析至少需要 3 个网格`);
      return;
    }
    let fc;
    try {
      fc = await W.api("GET", "/stats/hotspots?" + statsQuery({ unit: "grid", seed: "1" }).toString());
    } catch (error) {
      if (error.status !== 422) {
        throw error;
      }
      // E.g. a community with fewer than 3 grids: say why there is no analysis.
      state.hotspotLayer.clearLayers();
      clear(list);
      item(list, "无法做热点分析：" + error.message);
      return;
    }
    const significant = fc.features.filter((f) => f.properties.class !== "none");
    state.hotspotLayer.clearLayers();
    state.hotspotLayer.addData(W.toDisplay(cfg, { type: "FeatureCollection", features: significant }));
    clear(list);
    const names = {};
    if (state.rates) {
      for (const f of state.rates.fc.features) {
        names[f.properties.code] = f.properties.name;
      }
    }
    const hot = significant.filter((f) => f.properties.class.startsWith("hot"));
    if (!hot.length) {
      item(list, "无显著热点");
    }
    for (const f of hot) {
      const p = f.properties;
      const label = p.code ? `${names[p.code] || ""}（${p.code}）` : "热点";
      item(list, `${label}：${p.count} 件，z = ${Number(p.z).toFixed(2)}`);
    }
  }

  async function loadMarkers() {
    state.markers.clearLayers();
    if (state.map.getZoom() < MARKER_ZOOM) {
      body.dataset.markers = "0";
      return;
    }
    // Only what a marker shows: without the reporter's name and phone the page reads no
    // personal data, so panning writes no audit rows (the detail panel is audited on open).
    const q = itemsQuery({
      bbox: viewBbox(),
      limit: "1000",
      properties: "code,title,category_name,status,risk_level",
    });
    const fc = await W.api("GET", "/collections/incidents/items?" + q.toString());
    const markers = [];
    for (const f of fc.features) {
      const [lon, lat] = f.geometry.coordinates;
      const p = f.properties;
      const marker = L.marker(W.displayLatLng(cfg, lon, lat), {
        icon: L.divIcon({
          className: `wangge-incident-icon wangge-risk-${p.risk_level}`,
          iconSize: [14, 14],
        }),
        title: `${p.code} ${p.title}`,
        keyboard: true,
      });
      marker.bindTooltip(
        W.table([
          ["编号", p.code],
          ["标题", p.title],
          ["类别", p.category_name],
          ["状态", state.statuses[p.status] || p.status],
        ])
      );
      marker.on("click", () => openIncident(f.id));
      markers.push(marker);
    }
    state.markers.addLayers(markers);
    body.dataset.markers = String(markers.length);
  }

  function incidentLine(list, row, extra) {
    const li = item(list, `${row.code} ${row.title}${extra}`, () => openIncident(row.id));
    li.dataset.incidentId = String(row.id);
  }

  async function loadLists() {
    const [overdue, supervised] = await Promise.all([
      W.api("GET", "/incidents/overdue"),
      W.api("GET", "/incidents?supervised=true&limit=100"),
    ]);
    const o = $("overdue-list");
    clear(o);
    if (!overdue.length) {
      item(o, "无超期事件");
    }
    for (const row of overdue) {
      const hours = row.hours_overdue === undefined ? "" : `，超期 ${Math.round(row.hours_overdue)} 小时`;
      incidentLine(o, row, hours);
    }
    const s = $("supervised-list");
    clear(s);
    if (!supervised.items.length) {
      item(s, "无督办事件");
    }
    for (const row of supervised.items) {
      incidentLine(s, row, `（${SUPERVISION_ZH[row.supervision] || row.supervision}）`);
    }
    body.dataset.overdue = String(overdue.length);
    body.dataset.supervised = String(supervised.total);
  }

  // One reload of every filtered layer; a newer reload makes an older one's answers moot.
  async function reload(what) {
    const seq = ++state.loadSeq;
    body.dataset.busy = "true";
    W.clearError();
    W.setStatus("正在加载…");
    const jobs = what === "view" ? [loadHeat, loadMarkers] : [loadHeat, loadRates, loadMarkers, loadLists];
    try {
      await Promise.all(jobs.map((job) => job()));
      if (what !== "view") {
        await loadHotspots();
      }
      if (seq === state.loadSeq) {
        W.setStatus(`已更新 ${localTime(new Date().toISOString())}`);
      }
    } catch (error) {
      W.showError("加载失败：" + ((error && error.message) || "未知错误"), cfg, error && error.status);
      W.setStatus("加载失败");
    } finally {
      if (seq === state.loadSeq) {
        body.dataset.busy = "false";
      }
    }
  }

  // --- one incident --------------------------------------------------------------------------

  async function openIncident(id) {
    const box = $("incident-detail");
    try {
      const inc = await W.api("GET", `/incidents/${id}`);
      state.incident = inc;
      renderIncident(inc);
      $("incident-section").scrollIntoView({ block: "nearest" });
    } catch (error) {
      box.textContent = "读取事件失败：" + error.message;
    }
  }

  function renderIncident(inc) {
    const box = $("incident-detail");
    clear(box);
    box.className = "small";
    body.dataset.incidentId = String(inc.id);
    body.dataset.incidentStatus = inc.status;
    box.appendChild(
      W.table([
        ["编号", inc.code],
        ["标题", inc.title],
        ["类别", inc.category_name],
        ["状态", inc.status_zh],
        ["风险", RISK_ZH[inc.risk_level] || inc.risk_level],
        ["督办", SUPERVISION_ZH[inc.supervision]],
        ["网格", inc.grid && inc.grid.code ? `${inc.grid.name}（${inc.grid.code}）` : ""],
        ["社区", inc.community && inc.community.name],
        ["承办部门", inc.department && inc.department.name],
        ["上报人", inc.reporter_name],
        ["联系电话", inc.reporter_phone],
        ["上报时间", localTime(inc.reported_at)],
        ["办理期限", localTime(inc.deadline_at)],
      ])
    );
    const h = document.createElement("div");
    h.className = "fw-semibold mt-1";
    h.textContent = "办理过程";
    box.appendChild(h);
    const steps = document.createElement("ol");
    steps.id = "incident-steps";
    steps.className = "wangge-list";
    for (const s of inc.steps) {
      const t = state.transitions[s.action];
      const label = t ? t.label_zh : s.action;
      const to = state.statuses[s.to_status] || s.to_status || "";
      const text = `${localTime(s.at)} ${s.actor || ""} ${label}${to ? " → " + to : ""}${s.note ? "：" + s.note : ""}`;
      item(steps, text);
    }
    if (!inc.steps.length) {
      item(steps, "尚无办理记录");
    }
    box.appendChild(steps);
    const buttons = $("incident-actions");
    clear(buttons);
    $("action-result").textContent = "";
    $("action-note").value = "";
    for (const action of inc.allowed_actions) {
      const t = state.transitions[action];
      const b = document.createElement("button");
      b.type = "button";
      b.id = "action-" + action;
      b.className = "btn btn-sm btn-outline-primary";
      b.textContent = t ? t.label_zh : action;
      b.addEventListener("click", () => act(inc, action));
      buttons.appendChild(b);
    }
    $("param-level").hidden = !inc.allowed_actions.includes("supervise");
    $("param-until").hidden = true; // deferral is the department's, not shown to dispatchers
    $("param-into").hidden = !inc.allowed_actions.includes("merge");
    $("incident-act").hidden = inc.allowed_actions.length === 0;
  }

  async function act(inc, action) {
    const t = state.transitions[action] || {};
    const note = $("action-note").value.trim();
    const result = $("action-result");
    if (t.note_required && !note) {
      result.textContent = `「${t.label_zh}」需要填写说明`;
      result.className = "small mt-1 text-danger";
      return;
    }
    const payload = {};
    if (note) {
      payload.note = note;
    }
    if (action === "supervise") {
      payload.level = $("action-level").value;
    }
    if (action === "merge") {
      payload.into_id = Number($("action-into").value) || null;
    }
    body.dataset.busy = "true";
    try {
      const updated = await W.api("POST", `/incidents/${inc.id}/actions/${action}`, payload);
      const fresh = await W.api("GET", `/incidents/${updated.id || inc.id}`);
      state.incident = fresh;
      renderIncident(fresh);
      result.textContent = `已${t.label_zh || action}：当前状态「${fresh.status_zh}」`;
      result.className = "small mt-1 text-success";
      body.dataset.lastAction = action;
      await reload("all");
    } catch (error) {
      result.textContent = `「${t.label_zh || action}」失败：${error.message}`;
      result.className = "small mt-1 text-danger";
    } finally {
      body.dataset.busy = "false";
    }
  }

  // --- start ---------------------------------------------------------------------------------

  async function start() {
    W.setupLogout();
    state.map = W.createMap(cfg);
    addContextLayers();
    drawLegend();
    try {
      await loadFilterOptions();
    } catch (error) {
      W.showError("加载筛选项失败：" + error.message, cfg, error.status);
    }
    for (const id of ["filter-category", "filter-status"]) {
      $(id).addEventListener("change", () => reload("all"));
    }
    const slider = $("filter-time");
    slider.addEventListener("input", () => ($("filter-time-label").textContent = timeLabel()));
    slider.addEventListener("change", () => reload("all"));
    await reload("all");
    state.map.on("moveend", () => reload("view"));
    body.dataset.dispatchReady = "true";
  }

  start();
})();
