import { useMemo } from "preact/hooks";
import { renderAnswer } from "../markdown";

export interface MarkdownProps {
  text: string;
  /** Chip numbers that have a passage; other [n] stay text. */
  chips: ReadonlySet<number>;
  onChip: (n: number) => void;
  onLink: (url: string) => void;
}

/** The model's answer rendered by the sanitizing renderer, with chips and inert links wired. */
export function Markdown({ text, chips, onChip, onLink }: MarkdownProps) {
  const key = [...chips].sort((a, b) => a - b).join(",");
  const html = useMemo(() => renderAnswer(text, chips), [text, key]);

  function onClick(e: MouseEvent) {
    const target = e.target as Element | null;
    const chip = target?.closest?.("button.chip");
    if (chip) {
      e.preventDefault();
      const n = Number(chip.getAttribute("data-n"));
      if (Number.isInteger(n)) onChip(n);
      return;
    }
    const link = target?.closest?.("a.inert-link");
    if (link) {
      e.preventDefault();
      const url = link.getAttribute("data-href");
      if (url) onLink(url);
    }
  }

  return <div class="md" onClick={onClick} dangerouslySetInnerHTML={{ __html: html }} />;
}
