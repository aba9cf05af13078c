// Field page (/map/field), phone-sized: find an address (/address/search, suggestions while
// typing) or "我在哪" (the browser's geolocation), then a card of what /locate says about the
// point — community, grid, 四至, the grid's staff and phones (masked by the API per role), the
// building and, for roles that may read them, its houses and households — a form to report an
// incident at the point with a photo (/incidents/photos, then /incidents), and the grid's
// places due a patrol this month (/patrols/due) and persons due a visit (/visits/overdue).
// A tap on the map locates that point too.
//
// For tests: body[data-field-ready="true"] once set up; data-located-grid is the located
// grid's code ("" outside every grid), data-suggestions the number of suggestions shown,
// data-reported the code of the incident just reported; window.wanggeField holds the state.
"use strict";

(function () {
  const W = window.WanggeMap;
  const cfg = W.config();
  const body = document.body;
  const $ = (id) => document.getElementById(id);

  const DUTY_ZH = { leader: "网格长", worker: "网格员", collector: "信息员", volunteer: "志愿者" };
  const SEARCH_DELAY_MS = 250;

  const state = { cfg: cfg, map: null, marker: null, point: null, located: null, searchSeq: 0 };
  window.wanggeField = state;

  function clear(el) {
    while (el.firstChild) {
      el.removeChild(el.firstChild);
    }
  }

  function li(list, text) {
    const el = document.createElement("li");
    el.textContent = text;
    list.appendChild(el);
    return el;
  }

  // "Today" in the deployment's calendar (Asia/Shanghai), as YYYY-MM-DD, plus days.
  function localDate(days) {
    const t = new Date(Date.parse(cfg.now) + (days || 0) * 86400000);
    return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(t);
  }

  // --- search ---------------------------------------------------------------------------------

  function hideSuggestions() {
    const list = $("field-suggestions");
    list.hidden = true;
    clear(list);
    body.dataset.suggestions = "0";
  }

  async function suggest(text) {
    const seq = ++state.searchSeq;
    const q = text.trim();
    if (q.length < 2) {
      hideSuggestions();
      return;
    }
    let answer;
    try {
      answer = await W.api("GET", "/address/search?" + new URLSearchParams({ q: q, limit: "8" }));
    } catch (error) {
      if (seq === state.searchSeq) {
        hideSuggestions();
        W.showError("地址查找失败：" + error.message, cfg, error.status);
      }
      return;
    }
    if (seq !== state.searchSeq) {
      return; // a newer keystroke has its own answer coming
    }
    W.clearError();
    const list = $("field-suggestions");
    clear(list);
    const hits = answer.hits || [];
    if (!hits.length) {
      const el = li(list, "未找到匹配的地址");
      el.className = "list-group-item small text-secondary";
    }
    for (const hit of hits) {
      const el = li(list, hit.address);
      el.className = "list-group-item list-group-item-action small wangge-suggestion";
      el.setAttribute("role", "option");
      el.tabIndex = 0;
      const pick = () => {
        $("field-search").value = hit.address;
        hideSuggestions();
        locate(hit.location.lon, hit.location.lat, hit.address);
      };
      el.addEventListener("click", pick);
      el.addEventListener("keydown", (e) => {
        if (e.key === "Enter") {
          e.preventDefault();
          pick();
        }
      });
    }
    list.hidden = false;
    body.dataset.suggestions = String(hits.length);
  }

  function setupSearch() {
    const input = $("field-search");
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => suggest(input.value), SEARCH_DELAY_MS);
    });
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      clearTimeout(timer);
      suggest(input.value);
    });
  }

  // --- where am I -----------------------------------------------------------------------------

  function whereAmI() {
    if (!navigator.geolocation) {
      W.showError("此浏览器不支持定位", cfg);
      return;
    }
    W.setStatus("正在定位…");
    navigator.geolocation.getCurrentPosition(
      (pos) => locate(pos.coords.longitude, pos.coords.latitude, "我的位置"),
      (err) => {
        W.setStatus("定位失败");
        W.showError(
          err.code === 1 ? "定位失败：未允许使用位置信息" : "定位失败：无法取得当前位置",
          cfg
        );
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 }
    );
  }

  // --- locate and the card --------------------------------------------------------------------

  // lon/lat are WGS-84 (browser geolocation, search hits); the API answers in storage lon/lat.
  async function locate(lon, lat, label) {
    W.clearError();
    W.setStatus("正在查询网格…");
    body.dataset.busy = "true";
    try {
      const answer = await W.api("GET", "/locate?" + new URLSearchParams({ lon: String(lon), lat: String(lat) }));
      state.located = answer;
      state.point = answer.location;
      const ll = W.displayLatLng(cfg, answer.location.lon, answer.location.lat);
      if (state.marker) {
        state.marker.setLatLng(ll);
      } else {
        state.marker = L.circleMarker(ll, {
          radius: 9,
          color: "#fff",
          weight: 3,
          fillColor: "#d7191c",
          fillOpacity: 1,
          className: "wangge-here",
        }).addTo(state.map);
      }
      state.marker.bindTooltip(label || "所选位置");
      state.map.setView(ll, Math.max(state.map.getZoom(), 17), { animate: false });
      renderCard(answer);
      body.dataset.locatedGrid = answer.grid ? answer.grid.code : "";
      W.setStatus(answer.grid ? `网格 ${answer.grid.code}` : "不在任何网格内");
      await Promise.all([loadHouses(answer), loadDue(answer)]);
    } catch (error) {
      W.setStatus("查询失败");
      W.showError("查询网格失败：" + error.message, cfg, error.status);
      body.dataset.locatedGrid = "";
    } finally {
      body.dataset.busy = "false";
    }
  }

  function renderCard(answer) {
    const card = $("card-body");
    clear(card);
    const community = answer.admin && answer.admin.community;
    const street = answer.admin && answer.admin.street;
    const rows = [
      ["街道", street && street.name],
      ["社区", community && `${community.name}（${community.code}）`],
    ];
    if (answer.grid) {
      const g = answer.grid;
      rows.push(["网格", `${g.name}（${g.code}）`]);
      rows.push(["四至", g.sizhi || "未登记"]);
    } else {
      rows.push(["网格", "不在任何网格内"]);
      if (answer.nearest) {
        rows.push(["最近网格", `${answer.nearest.name || ""}（${answer.nearest.code}），约 ${Math.round(answer.distance_m || answer.nearest.distance_m || 0)} 米`]);
      }
    }
    if (answer.building) {
      rows.push(["建筑", answer.building.address || answer.building.name || answer.building.code]);
    }
    card.appendChild(W.table(rows));
    card.firstChild.id = "card-table";
    if (answer.grid) {
      const h = document.createElement("div");
      h.className = "small fw-semibold mt-1";
      h.textContent = "网格工作人员";
      card.appendChild(h);
      const staff = document.createElement("ul");
      staff.id = "card-staff";
      staff.className = "wangge-list small";
      if (!answer.grid.staff || !answer.grid.staff.length) {
        li(staff, "未配置");
      }
      for (const s of answer.grid.staff || []) {
        const el = li(staff, `${DUTY_ZH[s.duty] || s.duty || ""} ${s.name || ""} `);
        if (s.phone) {
          if (/^[0-9+ -]+$/.test(s.phone)) {
            const a = document.createElement("a");
            a.href = "tel:" + s.phone.replace(/[ -]/g, "");
            a.textContent = s.phone;
            el.appendChild(a);
          } else {
            el.appendChild(document.createTextNode(s.phone)); // masked: not dialable
          }
        }
      }
      card.appendChild(staff);
    }
    $("field-card").hidden = false;
    $("report-section").hidden = !(cfg.canReport && answer.grid);
    $("report-result").textContent = "";
  }

  async function loadHouses(answer) {
    const box = $("card-houses");
    clear(box);
    if (!answer.building || !cfg.canSeeHouses) {
      return;
    }
    const page = await W.api("GET", `/buildings/${answer.building.id}/houses?limit=200`);
    const houses = page.items || [];
    const households = houses.reduce((n, h) => n + (h.household_count || 0), 0);
    const line = document.createElement("div");
    line.id = "card-households";
    line.textContent = `房屋 ${page.total ?? houses.length} 套，住户 ${households} 户`;
    box.appendChild(line);
    const list = document.createElement("ul");
    list.className = "wangge-list";
    for (const h of houses.slice(0, 20)) {
      li(list, `${h.unit}单元 ${h.room}室：${h.household_count} 户${h.is_rental ? "（出租）" : ""}`);
    }
    box.appendChild(list);
  }

  async function loadDue(answer) {
    const section = $("due-section");
    if (!answer.grid || !(cfg.canSeePatrols || cfg.canSeeVisits)) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    const code = answer.grid.code;
    const patrols = $("due-patrols");
    const visits = $("due-visits");
    clear(patrols);
    clear(visits);
    const jobs = [];
    if (cfg.canSeePatrols) {
      jobs.push(
        W.api("GET", "/patrols/due").then((rows) => {
          const mine = rows.filter((r) => r.grid_code === code);
          if (!mine.length) {
            li(patrols, "本月巡查已完成");
          }
          for (const r of mine) {
            li(patrols, `${r.name}：本月已巡查 ${r.done}/${r.required} 次`);
          }
        })
      );
    } else {
      li(patrols, "（当前角色不巡查场所）");
    }
    if (cfg.canSeeVisits) {
      // Due today or earlier = overdue as of tomorrow.
      const q = new URLSearchParams({ grid: code, as_of: localDate(1), limit: "50" });
      jobs.push(
        W.api("GET", "/visits/overdue?" + q).then((page) => {
          const rows = page.items || [];
          if (!rows.length) {
            li(visits, "今日无待走访对象");
          }
          for (const r of rows) {
            const late = r.days_overdue > 1 ? `，已逾期 ${r.days_overdue - 1} 天` : "，今日到期";
            li(visits, `${r.name}（${(r.categories || []).join("、")}）${r.address || ""}${late}`);
          }
        })
      );
    } else {
      li(visits, "（当前角色不查看走访对象）");
    }
    await Promise.all(jobs);
  }

  // --- report ---------------------------------------------------------------------------------

  async function loadCategories() {
    const categories = await W.api("GET", "/incidents/categories");
    const parents = new Set(categories.map((c) => c.parent_code).filter(Boolean));
    const select = $("report-category");
    for (const c of categories) {
      if (parents.has(c.code)) {
        continue; // reports take a leaf category
      }
      const opt = document.createElement("option");
      opt.value = c.code;
      opt.textContent = c.name_zh;
      select.appendChild(opt);
    }
  }

  async function uploadPhoto(file) {
    const form = new FormData();
    form.append("file", file);
    let response;
    try {
      response = await fetch("/incidents/photos", { method: "POST", body: form, credentials: "same-origin" });
    } catch (e) {
      throw new W.ApiError(0, "无法连接服务器，请检查网络");
    }
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      const text = (answer && (answer.detail_zh || answer.title_zh)) || `HTTP ${response.status}`;
      throw new W.ApiError(response.status, "照片上传失败：" + text, answer);
    }
    return answer.id;
  }

  function setupReport() {
    $("report-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const result = $("report-result");
      if (!state.point) {
        return;
      }
      const submit = $("report-submit");
      submit.disabled = true;
      body.dataset.busy = "true";
      result.className = "small mt-1";
      result.textContent = "正在上报…";
      try {
        const photoIds = [];
        const file = $("report-photo").files[0];
        if (file) {
          photoIds.push(await uploadPhoto(file));
        }
        const description = $("report-description").value.trim();
        const incident = await W.api("POST", "/incidents", {
          category_code: $("report-category").value,
          title: $("report-title").value.trim(),
          description: description || null,
          channel: cfg.user.role === "grid_worker" ? "grid_worker" : "walk_in",
          risk_level: $("report-risk").value,
          lon: state.point.lon,
          lat: state.point.lat,
          photo_ids: photoIds,
        });
        const grid = incident.grid && incident.grid.code ? `，网格 ${incident.grid.code}` : "";
        result.textContent = `已上报：${incident.code}${grid}${photoIds.length ? "，附照片 1 张" : ""}`;
        result.className = "small mt-1 text-success";
        body.dataset.reported = incident.code;
        $("report-form").reset();
      } catch (error) {
        result.textContent = "上报失败：" + error.message;
        result.className = "small mt-1 text-danger";
      } finally {
        submit.disabled = false;
        body.dataset.busy = "false";
      }
    });
  }

  // --- start ----------------------------------------------------------------------------------

  async function start() {
    W.setupLogout();
    state.map = W.createMap(cfg, { tap: true });
    const grids = W.vectorTiles(state.map, cfg, "grids", {
      zIndex: 402,
      style: () => ({ color: "#1f4e9c", weight: 1.5, fill: true, fillColor: "#9ecae1", fillOpacity: 0.25 }),
    });
    const buildings = W.vectorTiles(state.map, cfg, "buildings", {
      zIndex: 404,
      minZoom: 13,
      style: () => ({ color: "#5d4037", weight: 1, fill: true, fillColor: "#e67e22", fillOpacity: 0.7 }),
    });
    grids.on("load", () => (body.dataset.tilesGrids = "loaded"));
    grids.addTo(state.map);
    buildings.addTo(state.map);
    state.map.on("click", (e) => {
      let lon = e.latlng.lng;
      let lat = e.latlng.lat;
      if (cfg.displayCrs === "gcj02") {
        [lon, lat] = gcoord.transform([lon, lat], gcoord.GCJ02, gcoord.WGS84);
      }
      locate(lon, lat, "地图选点");
    });
    setupSearch();
    $("field-whereami").addEventListener("click", whereAmI);
    setupReport();
    if (cfg.canReport) {
      try {
        await loadCategories();
      } catch (error) {
        W.showError("加载事件类别失败：" + error.message, cfg, error.status);
      }
    }
    W.setStatus("输入地址或点“我在哪”");
    body.dataset.fieldReady = "true";
  }

  start();
})();
