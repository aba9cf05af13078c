// Login page: POST the form to /auth/token (form-encoded, OAuth2 password flow). The server sets
// the HttpOnly session cookie; on success we continue to `next`, a same-site path only.
"use strict";

(function () {
  const DEFAULT_NEXT = "/map/";

  // The server already sanitised data-next; check again here so this file is safe on its own.
  function sameSiteNext(value) {
    if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//")) {
      return DEFAULT_NEXT;
    }
    if (/[\u0000-\u0020\u007f\\]/.test(value)) {
      return DEFAULT_NEXT;
    }
    try {
      const url = new URL(value, window.location.origin);
      if (url.origin !== window.location.origin) {
        return DEFAULT_NEXT;
      }
      return url.pathname + url.search + url.hash;
    } catch (e) {
      return DEFAULT_NEXT;
    }
  }

  async function problemText(response) {
    try {
      const body = await response.json();
      if (body && (body.detail_zh || body.title_zh)) {
        return body.detail_zh || body.title_zh;
      }
    } catch (e) {
      // Not JSON (a proxy's error page): fall through to the status line.
    }
    return "登录失败（HTTP " + response.status + "），请稍后重试";
  }

  function init() {
    const form = document.getElementById("login-form");
    const errorBox = document.getElementById("login-error");
    const submit = document.getElementById("login-submit");

    function showError(text) {
      errorBox.textContent = text; // text, never HTML
      errorBox.hidden = false;
    }

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      errorBox.hidden = true;
      const username = form.elements.username.value.trim();
      const password = form.elements.password.value;
      if (!username || !password) {
        showError("请输入用户名和密码");
        return;
      }
      submit.disabled = true;
      try {
        const response = await fetch("/auth/token", {
          method: "POST",
          credentials: "same-origin",
          headers: { Accept: "application/json" },
          body: new URLSearchParams({ username: username, password: password }),
        });
        if (response.ok) {
          window.location.assign(sameSiteNext(form.dataset.next));
          return;
        }
        showError(await problemText(response));
      } catch (e) {
        showError("无法连接服务器，请检查网络后重试");
      } finally {
        submit.disabled = false;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
