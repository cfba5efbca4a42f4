// Records when the page shows each change: the sequence shown, the wall clock, the flag banner, the messages.
(() => {
    window.shown = [];
    const note = () => {
        window.shown.push({
            seq: Number(document.getElementById('tower').dataset.seq), at: Date.now(),
            flag: document.getElementById('flag').textContent,
            messages: document.getElementById('messages').textContent,
        });
    };
    const watched = {childList: true, subtree: true, characterData: true, attributes: true};
    new MutationObserver(note).observe(document.body, watched);
})
