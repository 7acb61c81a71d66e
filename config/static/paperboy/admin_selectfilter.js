// Django admin's filter widget (SelectFilter2.js) names its magnifier icons with aria-label on a
// plain <span>, which ARIA does not allow: give them the image role that label needs. It builds
// the widget on "load", so this runs just after.
"use strict";
window.addEventListener("load", () => {
  setTimeout(() => {
    for (const icon of document.querySelectorAll(".selector .search-label-icon[aria-label]")) {
      icon.setAttribute("role", "img");
    }
  }, 0);
});
