import { CstParser, type CstNode, type IToken } from 'chevrotain';
import * as T from './tokens.ts';

/** The concrete-syntax parser. One instance is reused; error recovery is on. */
/** Kinds of named hardware parts that may be declared at top level (`gpu rtx4090 { … }`). */
export const PART_KINDS = ['gpu', 'host', 'ssd', 'link', 'node', 'network'];

class FlexCstParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: 'full' });
    this.performSelfAnalysis();
  }

  file = this.RULE('file', () => {
    this.MANY(() => this.SUBRULE(this.decl));
  });

  decl = this.RULE('decl', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.importDecl) },
      { ALT: () => this.SUBRULE(this.layerDecl) },
      { ALT: () => this.SUBRULE(this.modelDecl) },
      { ALT: () => this.SUBRULE(this.graphDecl) },
      { ALT: () => this.SUBRULE(this.hardwareDecl) },
      { ALT: () => this.SUBRULE(this.planDecl) },
      { ALT: () => this.SUBRULE(this.componentDecl) },
    ]);
  });

  importDecl = this.RULE('importDecl', () => {
    this.CONSUME(T.Import);
    this.CONSUME(T.LBrace);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.Identifier) });
    this.CONSUME(T.RBrace);
    this.CONSUME(T.From);
    this.CONSUME(T.StringLit);
  });

  layerDecl = this.RULE('layerDecl', () => {
    this.CONSUME(T.Layer);
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.paramList);
    this.OPTION(() => {
      this.CONSUME(T.Arrow);
      this.SUBRULE(this.typeRef);
    });
    this.SUBRULE(this.block);
  });

  modelDecl = this.RULE('modelDecl', () => {
    this.CONSUME(T.Model);
    this.CONSUME(T.Identifier);
    this.OPTION(() => this.SUBRULE(this.paramList));
    this.OPTION2(() => {
      this.CONSUME(T.On);
      this.CONSUME2(T.Identifier);
      this.CONSUME(T.Colon);
      this.CONSUME3(T.Identifier);
    });
    this.SUBRULE(this.block);
  });

  paramList = this.RULE('paramList', () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.paramDecl) });
    this.CONSUME(T.RParen);
  });

  paramDecl = this.RULE('paramDecl', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.OR([{ ALT: () => this.SUBRULE(this.tensorType) }, { ALT: () => this.SUBRULE(this.expr) }]);
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE2(this.expr);
    });
  });

  typeRef = this.RULE('typeRef', () => {
    this.OR([{ ALT: () => this.SUBRULE(this.tensorType) }, { ALT: () => this.CONSUME(T.Identifier) }]);
  });

  tensorType = this.RULE('tensorType', () => {
    this.CONSUME(T.DType);
    this.CONSUME(T.LBracket);
    this.MANY_SEP({
      SEP: T.Comma,
      DEF: () => this.OR([{ ALT: () => this.CONSUME(T.Ellipsis) }, { ALT: () => this.SUBRULE(this.expr) }]),
    });
    this.CONSUME(T.RBracket);
  });

  block = this.RULE('block', () => {
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.stmt));
    this.CONSUME(T.RBrace);
  });

  stmt = this.RULE('stmt', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.inputStmt) },
      { ALT: () => this.SUBRULE(this.paramStmt) },
      { ALT: () => this.SUBRULE(this.letStmt) },
      { ALT: () => this.SUBRULE(this.assignStmt) },
      { ALT: () => this.SUBRULE(this.repeatStmt) },
      { ALT: () => this.SUBRULE(this.outputStmt) },
      { ALT: () => this.SUBRULE(this.returnStmt) },
    ]);
  });

  inputStmt = this.RULE('inputStmt', () => {
    this.CONSUME(T.Input);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.typeRef);
  });

  paramStmt = this.RULE('paramStmt', () => {
    this.CONSUME(T.Param);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.typeRef);
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expr);
    });
  });

  letStmt = this.RULE('letStmt', () => {
    this.CONSUME(T.Let);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  assignStmt = this.RULE('assignStmt', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  repeatStmt = this.RULE('repeatStmt', () => {
    this.CONSUME(T.Repeat);
    this.SUBRULE(this.expr);
    this.CONSUME(T.As);
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.block);
  });

  outputStmt = this.RULE('outputStmt', () => {
    this.CONSUME(T.Output);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  returnStmt = this.RULE('returnStmt', () => {
    this.CONSUME(T.Return);
    this.SUBRULE(this.expr);
  });

  graphDecl = this.RULE('graphDecl', () => {
    this.CONSUME(T.Graph);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.graphItem));
    this.CONSUME(T.RBrace);
  });

  graphItem = this.RULE('graphItem', () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      this.OR([{ ALT: () => this.SUBRULE(this.tensorType) }, { ALT: () => this.SUBRULE(this.expr) }]);
    });
    this.OPTION2(() => {
      this.CONSUME(T.From);
      this.SUBRULE2(this.expr);
    });
    this.OPTION3(() => this.CONSUME(T.Comma));
  });

  hardwareDecl = this.RULE('hardwareDecl', () => {
    this.CONSUME(T.Hardware);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.hwItem));
    this.CONSUME(T.RBrace);
  });

  hwItem = this.RULE('hwItem', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Link);
          this.CONSUME(T.Identifier);
          this.CONSUME(T.BiArrow);
          this.CONSUME2(T.Identifier);
        },
      },
      {
        ALT: () => {
          this.CONSUME3(T.Identifier);
          this.OPTION({
            GATE: () => this.LA(1).image === 'x' && this.LA(2).tokenType !== T.Colon,
            DEF: () => {
              this.CONSUME4(T.Identifier);
              this.SUBRULE(this.expr);
            },
          });
        },
      },
    ]);
    this.OR2([
      {
        ALT: () => {
          this.CONSUME(T.Colon);
          this.SUBRULE2(this.expr);
        },
      },
      { ALT: () => this.SUBRULE(this.fieldBlock) },
    ]);
  });

  componentDecl = this.RULE('componentDecl', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Link) },
      { GATE: () => PART_KINDS.includes(this.LA(1).image), ALT: () => this.CONSUME(T.Identifier) },
    ]);
    this.CONSUME2(T.Identifier);
    this.SUBRULE(this.fieldBlock);
  });

  planDecl = this.RULE('planDecl', () => {
    this.CONSUME(T.Plan);
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.fieldBlock);
  });

  fieldBlock = this.RULE('fieldBlock', () => {
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.field));
    this.CONSUME(T.RBrace);
  });

  field = this.RULE('field', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Identifier) },
      { ALT: () => this.CONSUME(T.StringLit) },
      { ALT: () => this.CONSUME(T.DType, { LABEL: 'Identifier' }) },
      ...T.KEYWORDS.map((k) => ({ ALT: () => this.CONSUME(k, { LABEL: 'Identifier' }) })),
    ]);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.expr);
    this.OPTION(() => this.SUBRULE(this.fieldBlock));
    this.OPTION2(() => this.CONSUME(T.Comma));
  });

  expr = this.RULE('expr', () => {
    this.SUBRULE(this.mulExpr);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      this.SUBRULE2(this.mulExpr);
    });
  });

  mulExpr = this.RULE('mulExpr', () => {
    this.SUBRULE(this.unaryExpr);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star) },
        { ALT: () => this.CONSUME(T.Slash) },
        { ALT: () => this.CONSUME(T.At) },
      ]);
      this.SUBRULE2(this.unaryExpr);
    });
  });

  unaryExpr = this.RULE('unaryExpr', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unaryExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.postfixExpr) },
    ]);
  });

  postfixExpr = this.RULE('postfixExpr', () => {
    this.SUBRULE(this.primary);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.callSuffix) },
        { ALT: () => this.SUBRULE(this.indexSuffix) },
        {
          ALT: () => {
            this.CONSUME(T.Dot);
            this.CONSUME(T.Identifier);
          },
        },
      ]);
    });
  });

  callSuffix = this.RULE('callSuffix', () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg) });
    this.CONSUME(T.RParen);
  });

  arg = this.RULE('arg', () => {
    this.OPTION({
      GATE: () => this.LA(2).tokenType === T.Colon,
      DEF: () => {
        this.CONSUME(T.Identifier);
        this.CONSUME(T.Colon);
      },
    });
    this.SUBRULE(this.expr);
  });

  indexSuffix = this.RULE('indexSuffix', () => {
    this.CONSUME(T.LBracket);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.indexItem) });
    this.CONSUME(T.RBracket);
  });

  indexItem = this.RULE('indexItem', () => {
    this.OPTION(() => this.SUBRULE(this.expr));
    this.OPTION2(() => {
      this.CONSUME(T.Colon);
      this.OPTION3(() => this.SUBRULE2(this.expr));
    });
  });

  primary = this.RULE('primary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.NumberLit);
          this.OPTION({
            GATE: () => this.LA(1).tokenType === T.Identifier && sameLine(this.LA(0), this.LA(1)),
            DEF: () => this.SUBRULE(this.unit),
          });
        },
      },
      { ALT: () => this.CONSUME(T.StringLit) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.CONSUME(T.Identifier) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.expr);
          this.CONSUME(T.RParen);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.LBracket);
          this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE2(this.expr) });
          this.CONSUME(T.RBracket);
        },
      },
      { ALT: () => this.SUBRULE(this.fieldBlock) },
    ]);
  });

  unit = this.RULE('unit', () => {
    this.CONSUME(T.Identifier);
    this.OPTION({
      GATE: () =>
        this.LA(1).tokenType === T.Slash && this.LA(2).tokenType === T.Identifier && sameLine(this.LA(0), this.LA(2)),
      DEF: () => {
        this.CONSUME(T.Slash);
        this.CONSUME2(T.Identifier);
      },
    });
  });
}

function sameLine(a: IToken, b: IToken): boolean {
  return a.endLine === b.startLine;
}

export const cstParser = new FlexCstParser();
export type { CstNode };
