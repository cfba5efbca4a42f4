// Every visible text against the colour behind it: the WCAG ratio it needs (3 for large text, else 4.5).
// Returns the texts that fail, as "class: text ratio < needed".
(() => {
    const rgb = (text) => (text.match(/[\d.]+/g) || []).map(Number);
    const channel = (c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    const background = (el) => {
        for (; el; el = el.parentElement) {
            const c = rgb(getComputedStyle(el).backgroundColor);
            if (c.length === 3 || c[3] > 0.5) return c.slice(0, 3);
        }
        return [255, 255, 255];
    };
    const failures = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const el = node.parentElement;
        if (!node.textContent.trim() || !el.offsetParent && getComputedStyle(el).position !== 'fixed') continue;
        const style = getComputedStyle(el);
        let alpha = 1; // what opacity on the element or an ancestor leaves of the text: it is blended into what is behind
        for (let up = el; up; up = up.parentElement) alpha *= Number(getComputedStyle(up).opacity);
        if (style.visibility === 'hidden' || alpha < 0.05 || el.closest('.sr-only, [hidden], option')) continue;
        const rect = el.getBoundingClientRect();
        if (rect.width === 0 || rect.height === 0) continue;
        const behind = background(el);
        const fg = luminance(rgb(style.color).slice(0, 3).map((c, i) => alpha * c + (1 - alpha) * behind[i]));
        const bg = luminance(behind);
        const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
        const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
        const needed = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
        if (ratio < needed) failures.push(`${el.className || el.tagName}: "${node.textContent.trim().slice(0, 20)}" ${ratio.toFixed(2)} < ${needed}`);
    }
    return failures;
})
