// Grid map page: fetch each layer from the OGC API Features endpoint (same origin, session
// cookie), following rel="next" links, and draw it into the folium feature group made for it.
//
// For tests and later pages: when every layer has settled, document.body.dataset.layersLoaded
// lists the layers drawn (in config order) and dataset.layersFailed those that failed;
// window.wanggeGridMap exposes the map, the layers and their feature counts.
"use strict";

window.WanggeGridMap = (function () {
  const MAX_PAGES = 500; // a guard against a server that keeps answering "next"

  class LoadError extends Error {
    constructor(status, messageZh) {
      super(messageZh);
      this.status = status;
    }
  }

  function $(id) {
    return document.getElementById(id);
  }

  // Every value from the data goes through textContent: no HTML from data reaches the page.
  function tooltipContent(properties, fields) {
    const table = document.createElement("table");
    table.className = "wangge-tooltip";
    for (const [key, label] of fields) {
      const value = properties ? properties[key] : undefined;
      if (value === undefined || value === null || value === "") {
        continue;
      }
      const row = table.insertRow();
      const th = document.createElement("th");
      th.textContent = label;
      row.appendChild(th);
      row.insertCell().textContent = String(value);
    }
    return table;
  }

  // Only ever fetch our own API: a "next" link is reduced to its path and query on our origin.
  function sameOriginUrl(href) {
    const url = new URL(href, window.location.href);
    if (!url.pathname.startsWith("/collections/")) {
      throw new LoadError(0, "分页链接指向了意外的地址");
    }
    return new URL(url.pathname + url.search, window.location.origin).toString();
  }

  async function problemText(response) {
    try {
      const body = await response.json();
      if (body && (body.detail_zh || body.title_zh)) {
        return body.detail_zh || body.title_zh;
      }
    } catch (e) {
      // Not JSON: fall through to the status code.
    }
    return "服务器返回错误（HTTP " + response.status + "）";
  }

  async function fetchPage(url) {
    let response;
    try {
      response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/geo+json, application/json;q=0.9" },
      });
    } catch (e) {
      throw new LoadError(0, "无法连接服务器，请检查网络");
    }
    if (!response.ok) {
      throw new LoadError(response.status, await problemText(response));
    }
    let body;
    try {
      body = await response.json();
    } catch (e) {
      throw new LoadError(response.status, "返回的数据不是有效的 JSON");
    }
    if (!body || body.type !== "FeatureCollection" || !Array.isArray(body.features)) {
      throw new LoadError(response.status, "返回的数据不是 GeoJSON 要素集合");
    }
    return body;
  }

  async function fetchAll(layer) {
    const first = new URL(layer.url, window.location.origin);
    first.searchParams.set("limit", String(layer.limit));
    let url = first.toString();
    const features = [];
    for (let page = 0; url; page += 1) {
      if (page >= MAX_PAGES) {
        throw new LoadError(0, "数据分页过多，已停止加载");
      }
      const body = await fetchPage(url);
      features.push(...body.features);
      const next = (body.links || []).find((link) => link && link.rel === "next" && link.href);
      url = next ? sameOriginUrl(next.href) : null;
    }
    return features;
  }

  function matches(feature, where) {
    const props = feature.properties || {};
    return Object.entries(where || {}).every(([key, value]) => props[key] === value);
  }

  function draw(map, group, layer, features, displayCrs) {
    let index = 0;
    const geojson = L.geoJSON(
      window.WanggeMap.toDisplay({ displayCrs }, { type: "FeatureCollection", features: features }),
      {
        pane: layer.pane,
        style: function () {
          const style = Object.assign({}, layer.style, { className: layer.className });
          if (layer.palette && layer.palette.length) {
            style.fillColor = layer.palette[index % layer.palette.length];
            index += 1;
          }
          return style;
        },
        onEachFeature: function (feature, path) {
          path.bindTooltip(() => tooltipContent(feature.properties, layer.tooltip), {
            sticky: true,
            direction: "top",
            opacity: 1, // Leaflet's 0.9 lets the buildings underneath show through the text
          });
          const base = { weight: (layer.style && layer.style.weight) || 1 };
          path.on("mouseover", () => path.setStyle({ weight: base.weight + 2 }));
          path.on("mouseout", () => path.setStyle(base));
        },
      }
    );
    geojson.addTo(group);
    return geojson;
  }

  function showError(text, withLoginLink, loginUrl) {
    const box = $("wangge-error");
    if (!box) {
      return;
    }
    const line = document.createElement("div");
    line.textContent = text;
    if (withLoginLink) {
      const link = document.createElement("a");
      link.href = loginUrl;
      link.textContent = "重新登录";
      link.className = "ms-2";
      line.appendChild(link);
    }
    box.appendChild(line);
    box.hidden = false;
  }

  async function start(map, config, groups) {
    window.WanggeMap.setupLogout();
    L.control.scale({ metric: true, imperial: false, position: "bottomleft" }).addTo(map);
    if (!isFinite(map.getMaxZoom())) {
      map.setMaxZoom(19); // without a tile layer Leaflet has no zoom limit
    }
    const state = { map: map, layers: {}, counts: {}, errors: {} };
    window.wanggeGridMap = state;

    for (const layer of config.layers) {
      map.createPane(layer.pane).style.zIndex = String(layer.zIndex);
    }
    const results = await Promise.allSettled(
      config.layers.map(async (layer) => {
        const features = (await fetchAll(layer)).filter((f) => matches(f, layer.where));
        state.layers[layer.collection] = draw(
          map,
          groups[layer.collection],
          layer,
          features,
          config.displayCrs
        );
        state.counts[layer.collection] = features.length;
        return layer;
      })
    );

    const loaded = [];
    const failed = [];
    let loginExpired = false;
    results.forEach((result, i) => {
      const layer = config.layers[i];
      if (result.status === "fulfilled") {
        loaded.push(layer.collection);
        return;
      }
      failed.push(layer.collection);
      const error = result.reason;
      const status = error && error.status;
      const message = (error && error.message) || "未知错误";
      state.errors[layer.collection] = { status: status, message: message };
      if (status === 401) {
        loginExpired = true;
      }
      console.warn("wangge: layer " + layer.collection + " failed", status, message);
      showError("加载“" + layer.label + "”图层失败：" + message, status === 401, config.loginUrl);
    });

    let bounds = null;
    for (const name of loaded) {
      const b = state.layers[name].getBounds();
      if (b.isValid()) {
        bounds = bounds ? bounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast());
      }
    }
    if (bounds) {
      map.fitBounds(bounds, { padding: [24, 24] });
    }

    const status = $("wangge-status");
    if (status) {
      const parts = config.layers
        .filter((layer) => loaded.includes(layer.collection))
        .map((layer) => layer.label + " " + state.counts[layer.collection]);
      status.textContent = loaded.length
        ? "已加载：" + parts.join(" · ")
        : loginExpired
          ? "登录已过期"
          : "图层加载失败";
      if (loaded.length && !bounds) {
        status.textContent += "（您的辖区内暂无数据）";
      }
    }
    if (failed.length) {
      document.body.dataset.layersFailed = failed.join(",");
    }
    document.body.dataset.layersLoaded = loaded.join(",");
    document.body.dataset.layersDone = "true";
    return state;
  }

  return { start: start, tooltipContent: tooltipContent };
})();
