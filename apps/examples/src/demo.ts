console.log("tsbpf demo: coming up");
