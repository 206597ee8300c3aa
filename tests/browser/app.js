// The browser flow of OpenAI's WebRTC guide ("Connecting using an ephemeral token"), run by
// tests/functional/test_browser.py in headless Chromium against the mock, from another origin.
//
// The query says where the mock is and how to call it:
//   mock=http://127.0.0.1:PORT/v1    the mock's base URL
//   microphone=<JSON>                the getUserMedia audio constraints (default `true`, as in the guide)
//   offer=gathered                   post `pc.localDescription.sdp` once ICE gathering is complete (with the
//                                    browser's candidates) instead of the guide's `offer.sdp` (none)
// What the page sees goes back to the app server that served it, in order: POST /report (JSON: the steps,
// each event of the data channel, errors; `at` is ms since the page's navigation started) and POST /audio (the
// remote track as PCM16 24 kHz mono, recorded with WebAudio).

const query = new URLSearchParams(location.search);
const MOCK = query.get("mock");
const MICROPHONE = JSON.parse(query.get("microphone") ?? "true");
const GATHERED = query.get("offer") === "gathered";

let reports = Promise.resolve();
function send(path, body, type) {  // one request at a time, so the app server gets them in order
  reports = reports.then(() => fetch(path, {method: "POST", body, headers: {"Content-Type": type}}))
    .catch((error) => console.error(`report to ${path} failed: ${error}`));
}
function report(what) {
  send("/report", JSON.stringify({...what, at: Math.round(performance.now())}), "application/json");
}
window.addEventListener("error", (e) => report({error: `${e.message} (${e.filename}:${e.lineno})`}));
window.addEventListener("unhandledrejection", (e) => report({error: String(e.reason?.stack ?? e.reason)}));

// The remote track as PCM16 24 kHz mono: an AudioWorklet (recorder.js) hands over 100 ms blocks.
async function record(stream) {
  const context = new AudioContext({sampleRate: 24000});
  await context.audioWorklet.addModule("/recorder.js");
  const recorder = new AudioWorkletNode(context, "recorder");
  recorder.port.onmessage = (e) => send("/audio", e.data, "application/octet-stream");
  context.createMediaStreamSource(stream).connect(recorder);
  recorder.connect(context.destination);  // so that the graph pulls it (it writes silence)
  await context.resume();
  report({recording: context.state});
}

function gathered(pc) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") resolve();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
  });
}

async function init() {
  // Get a session token for OpenAI Realtime API
  const tokenResponse = await fetch("/session");
  const data = await tokenResponse.json();
  const EPHEMERAL_KEY = data.value;
  report({key: EPHEMERAL_KEY.slice(0, 3)});

  // Create a peer connection
  const pc = new RTCPeerConnection();
  pc.addEventListener("connectionstatechange", () => report({connection: pc.connectionState}));

  // Set up to play remote audio from the model
  const audioElement = document.createElement("audio");
  audioElement.autoplay = true;
  document.body.append(audioElement);
  pc.ontrack = (e) => {
    audioElement.srcObject = e.streams[0];
    record(e.streams[0]).catch((error) => report({error: `recording: ${error}`}));
  };

  // Add local audio track for microphone input in the browser
  const ms = await navigator.mediaDevices.getUserMedia({audio: MICROPHONE});
  pc.addTrack(ms.getTracks()[0]);
  report({microphone: ms.getTracks()[0].getSettings()});

  // Set up data channel for sending and receiving events
  const dc = pc.createDataChannel("oai-events");
  dc.addEventListener("message", (e) => report({event: JSON.parse(e.data)}));

  // Start the session using the Session Description Protocol (SDP)
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  if (GATHERED) await gathered(pc);
  const sdp = GATHERED ? pc.localDescription.sdp : offer.sdp;
  report({offer: sdp.split("\r\n").filter((line) => line.startsWith("a=candidate:"))});

  const sdpResponse = await fetch(`${MOCK}/realtime/calls?model=gpt-realtime`, {
    method: "POST",
    body: sdp,
    headers: {
      Authorization: `Bearer ${EPHEMERAL_KEY}`,
      "Content-Type": "application/sdp",
    },
  });
  const answerSdp = await sdpResponse.text();
  const callUrl = sdpResponse.headers.get("Location");  // exposed to the page by the mock's CORS headers
  report({call: {status: sdpResponse.status, location: callUrl, call_id: callUrl?.split("/").pop() ?? null}});
  if (!sdpResponse.ok) throw new Error(`the call was refused: ${sdpResponse.status} ${answerSdp}`);

  const answer = {type: "answer", sdp: answerSdp};
  await pc.setRemoteDescription(answer);
}

init().catch((error) => report({error: String(error?.stack ?? error)}));
