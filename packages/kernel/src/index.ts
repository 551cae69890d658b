export * from './sys/bpf-attr.js';
