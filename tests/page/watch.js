// Records every update of the tower: its sequence, each row's number, laps, gap and interval, and the flag.
(() => {
    window.seen = [];
    const note = () => {
        const rows = [...document.querySelectorAll('#tower-body tr')].map(r => [
            r.dataset.number, Number(r.dataset.laps), r.querySelector('.c-gap').textContent.trim(),
            r.querySelector('.c-int').textContent.trim()]);
        window.seen.push({seq: Number(document.getElementById('tower').dataset.seq), rows,
            flag: document.getElementById('flag').textContent});
    };
    new MutationObserver(note).observe(document.getElementById('tower-body'), {childList: true, subtree: true, characterData: true});
})
