// The key-value store the core's session store writes through (DESIGN §5: state per
// integration id in localStorage). Where localStorage is missing or refuses access (storage
// blocked for a third-party iframe, a private mode quota of 0), the values live in memory for
// the page's lifetime: the widget still works, it just cannot resume after a reload.
export function browserStorage() {
  const memory = new Map();
  let local = null;
  try {
    local = globalThis.localStorage || null;
    if (local) {
      local.setItem('parley.probe', '1');
      local.removeItem('parley.probe');
    }
  } catch {
    local = null;
  }
  return {
    get(key) {
      try {
        if (local) return local.getItem(key);
      } catch { /* fall through */ }
      return memory.has(key) ? memory.get(key) : null;
    },
    set(key, value) {
      memory.set(key, value);
      try {
        if (local) local.setItem(key, value);
      } catch { /* quota: memory only */ }
    },
    remove(key) {
      memory.delete(key);
      try {
        if (local) local.removeItem(key);
      } catch { /* ignore */ }
    },
  };
}
