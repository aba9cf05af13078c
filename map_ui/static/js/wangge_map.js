// Shared helpers of the Leaflet pages (planner now; dispatcher and field pages later).
//
// WanggeMap.config()            the page configuration (JSON data block, no inline script)
// WanggeMap.createMap(config)   Leaflet map + optional basemap + scale, view fitted to the area
// WanggeMap.vectorTiles(...)    a Leaflet.VectorGrid layer over /tiles/{layer}/{z}/{x}/{y}.mvt
// WanggeMap.toDisplay(geojson)  our WGS-84/CGCS2000 GeoJSON → the basemap's datum (GCJ-02)
// WanggeMap.api(method, url, body)  fetch our API (same origin, cookie), problem+json → ApiError
// WanggeMap.showError / clearError / setStatus / setupLogout
"use strict";

window.WanggeMap = (function () {
  // Leaflet.VectorGrid 1.3 calls L.DomEvent.fakeStop on click, which Leaflet 1.8+ removed.
  if (window.L && L.DomEvent && !L.DomEvent.fakeStop) {
    L.DomEvent.fakeStop = function (e) {
      L.DomEvent.stopPropagation(e);
    };
  }

  class ApiError extends Error {
    constructor(status, messageZh, body) {
      super(messageZh);
      this.status = status;
      this.body = body || null;
    }
  }

  function $(id) {
    return document.getElementById(id);
  }

  function config() {
    return JSON.parse($("wangge-config").textContent);
  }

  function isGcj(cfg) {
    return cfg.displayCrs === "gcj02";
  }

  // GeoJSON (any object gcoord understands) from storage lon/lat to the display datum.
  function toDisplay(cfg, geojson) {
    if (!isGcj(cfg) || !geojson) {
      return geojson;
    }
    return window.gcoord.transform(JSON.parse(JSON.stringify(geojson)), gcoord.WGS84, gcoord.GCJ02);
  }

  function displayLatLng(cfg, lon, lat) {
    if (!isGcj(cfg)) {
      return L.latLng(lat, lon);
    }
    const [x, y] = gcoord.transform([lon, lat], gcoord.WGS84, gcoord.GCJ02);
    return L.latLng(y, x);
  }

  // The CRS name to send with geometry drawn on the page (the API converts it to storage).
  function drawnCrs(cfg) {
    return isGcj(cfg) ? "GCJ02" : "WGS84";
  }

  function createMap(cfg, options) {
    const map = L.map("wangge-map", Object.assign({ zoomControl: true, maxZoom: 20 }, options));
    if (cfg.basemap) {
      L.tileLayer(cfg.basemap.url, {
        attribution: cfg.basemap.attribution,
        maxZoom: 20,
        maxNativeZoom: 18,
      }).addTo(map);
    }
    L.control.scale({ metric: true, imperial: false, position: "bottomleft" }).addTo(map);
    const [w, s, e, n] = cfg.bounds;
    map.fitBounds(L.latLngBounds(displayLatLng(cfg, w, s), displayLatLng(cfg, e, n)), {
      padding: [16, 16],
    });
    return map;
  }

  function tileUrl(cfg, layer, params) {
    const query = new URLSearchParams(params || {});
    if (isGcj(cfg)) {
      query.set("crs", "gcj02");
    }
    const text = query.toString();
    return cfg.tileUrl.replace("{layer}", layer) + (text ? "?" + text : "");
  }

  // A vector-tile layer drawn as SVG (one <path> per feature, class wangge-<layer>), in its own
  // pane. style(properties, zoom) returns a Leaflet path style. Fires "load" like any GridLayer.
  function vectorTiles(map, cfg, layer, opts) {
    const paneName = "wangge-" + layer + "-tiles";
    if (!map.getPane(paneName)) {
      map.createPane(paneName).style.zIndex = String(opts.zIndex || 405);
    }
    const styleFn = opts.style;
    const styles = {};
    styles[layer] = function (properties, zoom) {
      return Object.assign({ className: "wangge-" + layer }, styleFn(properties, zoom));
    };
    return L.vectorGrid.protobuf(tileUrl(cfg, layer, opts.params), {
      rendererFactory: L.svg.tile,
      vectorTileLayerStyles: styles,
      interactive: !!opts.interactive,
      getFeatureId: (f) => f.id,
      pane: paneName,
      minZoom: opts.minZoom || 0,
      maxNativeZoom: 20,
      maxZoom: 22,
      fetchOptions: { credentials: "same-origin" },
    });
  }

  async function problemText(response) {
    try {
      const body = await response.json();
      if (body && (body.detail_zh || body.title_zh)) {
        return [body.detail_zh || body.title_zh, body];
      }
      return ["服务器返回错误（HTTP " + response.status + "）", body];
    } catch (e) {
      return ["服务器返回错误（HTTP " + response.status + "）", null];
    }
  }

  async function api(method, url, body) {
    const init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (e) {
      throw new ApiError(0, "无法连接服务器，请检查网络");
    }
    if (!response.ok) {
      const [text, problem] = await problemText(response);
      throw new ApiError(response.status, text, problem);
    }
    return response.json();
  }

  function showError(text, cfg, status) {
    const box = $("wangge-error");
    if (!box) {
      return;
    }
    box.textContent = "";
    const line = document.createElement("div");
    line.textContent = text;
    if (status === 401 && cfg) {
      const link = document.createElement("a");
      link.href = cfg.loginUrl;
      link.textContent = "重新登录";
      link.className = "ms-2";
      line.appendChild(link);
    }
    box.appendChild(line);
    box.hidden = false;
  }

  function clearError() {
    const box = $("wangge-error");
    if (box) {
      box.hidden = true;
      box.textContent = "";
    }
  }

  function setStatus(text) {
    const status = $("wangge-status");
    if (status) {
      status.textContent = text;
    }
  }

  function setupLogout() {
    const link = $("wangge-logout");
    if (!link) {
      return;
    }
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      try {
        await fetch("/auth/logout", { method: "POST", credentials: "same-origin" });
      } finally {
        window.location.assign("/login");
      }
    });
  }

  // Every value from data is shown through textContent: no HTML from data reaches the page.
  function table(rows) {
    const t = document.createElement("table");
    t.className = "wangge-tooltip";
    for (const [label, value] of rows) {
      if (value === undefined || value === null || value === "") {
        continue;
      }
      const row = t.insertRow();
      const th = document.createElement("th");
      th.textContent = label;
      row.appendChild(th);
      row.insertCell().textContent = String(value);
    }
    return t;
  }

  return {
    ApiError: ApiError,
    api: api,
    clearError: clearError,
    config: config,
    createMap: createMap,
    displayLatLng: displayLatLng,
    drawnCrs: drawnCrs,
    setStatus: setStatus,
    setupLogout: setupLogout,
    showError: showError,
    table: table,
    tileUrl: tileUrl,
    toDisplay: toDisplay,
    vectorTiles: vectorTiles,
  };
})();
