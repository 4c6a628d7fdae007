/* Store locator: list the stores from GET /api/stores into the reserved #stores box. */
"use strict";

async function loadStores() {
  const box = document.getElementById("stores");
  try {
    const response = await fetch("/api/stores", { headers: { Accept: "application/json" } });
    if (!response.ok) {
      throw new Error("HTTP " + response.status);
    }
    const stores = await response.json();
    const list = document.createElement("ul");
    list.className = "store-cards";
    for (const store of stores) {
      const item = document.createElement("li");
      const name = document.createElement("h3");
      const address = document.createElement("p");
      const hours = document.createElement("p");
      const phone = document.createElement("p");
      name.textContent = store.name;
      address.textContent = store.address + ", " + store.city;
      hours.textContent = store.hours;
      phone.textContent = store.phone === null ? "No phone: visit in person" : "Phone: " + store.phone;
      item.append(name, address, hours, phone);
      list.append(item);
    }
    box.replaceChildren(list);
  } catch (error) {
    const note = document.createElement("p");
    note.className = "notice notice-error";
    note.textContent = "Stores are unavailable right now (" + error.message + ").";
    box.replaceChildren(note);
  } finally {
    box.setAttribute("aria-busy", "false");
  }
}

loadStores();
