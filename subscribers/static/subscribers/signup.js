// Fill the hidden time-zone fields with the browser's IANA zone (editable later in preferences).
document.addEventListener("DOMContentLoaded", function () {
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (error) { zone = ""; }
  document.querySelectorAll('input[name="time_zone"]').forEach(function (input) {
    if (!input.value) { input.value = zone; }
  });
});
