// Waits for an approval: asks this server (which asks Assent, with a long-poll) until the request
// is final, updating the page, then goes to the finish page, which checks again server-side.
(function () {
  const root = document.querySelector("[data-flow]");
  if (!root) return;
  const flow = root.getAttribute("data-flow");
  const statusEl = document.querySelector("[data-status]");
  const approversEl = document.querySelector("[data-approvers]");
  async function poll() {
    for (;;) {
      try {
        const res = await fetch(`/flows/${flow}/status`, { headers: { accept: "application/json" } });
        if (res.ok) {
          const s = await res.json();
          if (approversEl && s.approvers) {
            approversEl.innerHTML = "";
            for (const a of s.approvers) {
              const li = document.createElement("li");
              li.textContent = `${a.name}: ${a.decision}`;
              li.setAttribute("data-approver", a.name);
              approversEl.appendChild(li);
            }
          }
          if (s.status !== "pending") {
            window.location.href = `/flows/${flow}/finish`;
            return;
          }
          if (statusEl) statusEl.textContent = s.waiting_for;
        }
      } catch (e) {
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }
  poll();
})();
