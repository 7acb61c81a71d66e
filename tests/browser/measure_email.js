// What tests/browser/test_email_layout.py measures of an email open in the page: every visible
// element inside the viewport's width, none whose content spills out of its box, and the text of
// each element readable on the background behind it (WCAG 2 contrast); and each image's box,
// source, alt text, whether it arrived, and its alt text's contrast on its own background.
() => {
  const width = document.documentElement.clientWidth;
  const dark = matchMedia("(prefers-color-scheme: dark)").matches;
  const name = (el) => {
    const classes = el.className ? "." + String(el.className).split(" ").join(".") : "";
    return `${el.tagName.toLowerCase()}${classes} "${(el.innerText || "").trim().slice(0, 50)}"`;
  };
  const span = (el) => {
    const box = el.getBoundingClientRect();
    return `${Math.round(box.left)}..${Math.round(box.right)} px`;
  };
  const rgba = (value) => (value.match(/[\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const linear = (c) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const value = rgba(getComputedStyle(el).backgroundColor);
      if (value.length === 3 || value[3] > 0) return value;
    }
    return dark ? [18, 18, 18] : [255, 255, 255]; // the canvas
  };

  const wide = [];
  const spilled = [];
  const faint = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0) continue; // not shown (the preheader), or a line break
    if (box.left < -0.5 || box.right > width + 0.5) {
      wide.push(el);
    } else if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
      spilled.push(`${name(el)}: ${el.scrollWidth} px of content in ${el.clientWidth} px`);
    }
    if (![...el.childNodes].some((node) => node.nodeType === Node.TEXT_NODE && node.textContent.trim())) continue;
    const style = getComputedStyle(el);
    const behind = background(el);
    const [fg, bg] = [luminance(rgba(style.color)), luminance(behind)];
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (Number(style.fontWeight) >= 700 && size >= 18.66);
    const needed = large ? 3 : 4.5;
    if (ratio < needed) {
      faint.push(`${name(el)}: contrast ${ratio.toFixed(2)} < ${needed} (${style.color} on rgb(${behind}))`);
    }
  }
  // Only the innermost wide elements: their ancestors are wide because of them.
  const innermost = wide.filter((el) => !wide.some((other) => other !== el && el.contains(other)));
  const contrastOf = (style, behind) => {
    const [fg, bg] = [luminance(rgba(style.color)), luminance(behind)];
    return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  };
  const images = [...document.images].map((img) => {
    const box = img.getBoundingClientRect();
    return {
      src: img.getAttribute("src"),
      alt: img.alt,
      width: Math.round(box.width),
      height: Math.round(box.height),
      loaded: img.complete && img.naturalWidth > 0,
      contrast: contrastOf(getComputedStyle(img), background(img)),
    };
  });
  return {
    images,
    width,
    dark,
    scrollWidth: document.documentElement.scrollWidth,
    card: document.querySelector(".card").getBoundingClientRect().width,
    pageLuminance: luminance(background(document.body)),
    wide: innermost.map((el) => `${name(el)}: ${span(el)} (wider than the screen)`),
    spilled,
    faint,
  };
}
